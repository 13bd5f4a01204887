"""Rollouts of one GRPO group run in separate env instances: their LLM backends must be shared objects."""

from train.verl.agent_loop import make_env


def test_envs_of_a_worker_share_backend_instances():
    kwargs = {
        "tasks": "starter",
        "tool_backend": {"name": "llm", "llm": {"base_url": "http://127.0.0.1:9/v1", "model": "m"}},
        "judge": {"name": "llm", "llm": {"base_url": "http://127.0.0.1:9/v1", "model": "m"}},
    }
    a = make_env("cm2/ToolTask-v0", "travel-001", **kwargs)
    b = make_env("cm2/ToolTask-v0", "travel-002", **kwargs)
    assert a.tool_backend is b.tool_backend and a.judge is b.judge  # one group memo, one HTTP pool per role
    assert [t.id for t in a.tasks] == ["travel-001"] and [t.id for t in b.tasks] == ["travel-002"]
    other = make_env("cm2/ToolTask-v0", "travel-001", **{**kwargs, "judge": None})
    assert other.tool_backend is not a.tool_backend  # a different config gets its own instances
