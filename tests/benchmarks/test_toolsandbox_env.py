"""ToolSandbox adapter: official verdict == ToolSandbox's own play_and_evaluate, oracle, baseline, concurrency.

Runs only in the ToolSandbox venv (scripts/install_toolsandbox_env.sh):
    .venv-toolsandbox/bin/python -m pytest tests/benchmarks/test_toolsandbox_env.py
"""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("tool_sandbox")

import cm2_env  # noqa: E402
from cm2_env.benchmarks.toolsandbox import scripted  # noqa: E402
from cm2_env.benchmarks.toolsandbox.cli import category_summary, format_table  # noqa: E402

ENV_ID = "cm2/ToolSandbox-v0"


@pytest.fixture(scope="module")
def env():
    e = cm2_env.make(ENV_ID)
    yield e
    e.close()


def _call(i, name, args):
    return {"id": f"c{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def scripts_for(task):
    """Several trajectories per task: oracle (if any), a constant reply, a wrong call, parallel calls."""
    out = {"fixed": [{"role": "assistant", "content": "I cannot help with that."}]}
    ref = scripted.reference_script(task)
    if ref:
        out["oracle"] = ref
    tools = [t["function"] for t in task.tools]
    first = tools[0]
    req = first.get("parameters", {}).get("required", [])
    wrong = {a: "nonsense" for a in req}
    out["wrong_call"] = [{"role": "assistant", "content": "", "tool_calls": [_call(0, first["name"], wrong)]},
                         {"role": "assistant", "content": "Done, anything else?"}]
    calls = [m["tool_calls"][0] for m in ref if m.get("tool_calls")]
    if len(calls) >= 2:  # the oracle's calls as one parallel batch
        out["parallel"] = [{"role": "assistant", "content": "", "tool_calls": calls}, ref[-1]]
    return out


def _official_fields(res):
    return {"similarity": float(res.similarity), "milestone_similarity": float(res.milestone_similarity),
            "minefield_similarity": float(res.minefield_similarity), "turn_count": int(res.turn_count),
            "milestone_mapping": {str(k): [int(v[0]), float(v[1])] for k, v in res.milestone_mapping.items()},
            "minefield_mapping": {str(k): [int(v[0]), float(v[1])] for k, v in res.minefield_mapping.items()}}


def _adapter_fields(ev):
    return {k: ev[k] for k in ("similarity", "milestone_similarity", "minefield_similarity", "turn_count",
                               "milestone_mapping", "minefield_mapping")}


def test_task_count_and_shapes(env):
    assert len(env.tasks) == 91  # local-only base scenarios (no RAPID_API_KEY)
    for t in env.tasks:
        assert t.system_prompt and t.turns[0].user and t.tools
        assert t.metadata["categories"]


def test_official_equals_play_and_evaluate(env):
    """The adapter's verdict equals ToolSandbox's own runner on the same scripted trajectories."""
    oracle = [t for t in env.tasks if t.reference is not None]
    others = [t for t in env.tasks if t.reference is None]
    chosen = oracle + others[::6]
    compared = 0
    for task in chosen:
        for label, script in scripts_for(task).items():
            official = _official_fields(scripted.play_official(task.id, script))
            info = scripted.run_adapter(env, task.id, script)
            assert _adapter_fields(info["evaluations"]["toolsandbox"]) == official, (task.id, label)
            compared += 1
    print(f"compared {compared} trajectories over {len(chosen)} scenarios")
    assert compared >= 60


def test_official_equals_with_followups():
    """Multi-turn: scripted follow-ups are mirrored as USER→AGENT messages like ToolSandbox's runner records them."""
    name = "find_thanksgiving_timestamp"
    follow = ["Thanks. And what about Christmas?"]
    e = cm2_env.make(ENV_ID, task_ids=[name], followups={name: follow})
    task = e.tasks[0]
    assert len(task.turns) == 2
    script = scripted.reference_script(task) + [{"role": "assistant", "content": "Christmas is on December 25."}]
    official = _official_fields(scripted.play_official(name, script, follow))
    info = scripted.run_adapter(e, name, script)
    assert _adapter_fields(info["evaluations"]["toolsandbox"]) == official
    e.close()


def test_oracle_reaches_one(env):
    covered = [t for t in env.tasks if t.reference is not None]
    assert len(covered) >= 19
    from agents.reference import ReferenceAgent

    for task in covered:
        agent = ReferenceAgent()
        agent.reset(task)
        info = scripted.run_adapter(env, task.id, [agent.next_message([{"role": "user"}]) for _ in
                                                   range(len(scripted.reference_script(task)))])
        assert info["evaluations"]["toolsandbox"]["similarity"] == 1.0, task.id
        assert info["score"] == 1.0, (task.id, info["verdicts"])
    print(f"oracle covers {len(covered)}/{len(env.tasks)} scenarios, all at similarity 1.0 and checklist 1.0")


def test_fixed_reply_baseline_per_category(env):
    from agents.fixed import FixedReplyAgent

    agent = FixedReplyAgent()
    per = []
    for task in env.tasks:
        agent.reset(task)
        info = scripted.run_adapter(env, task.id, [asyncio.run(agent.act([], {}))])
        ev = info["evaluations"]["toolsandbox"]
        per.append({"categories": ev["categories"], "similarity": ev["similarity"], "turn_count": ev["turn_count"]})
    summary = category_summary(per)
    print("\nfixed-reply baseline (ToolSandbox per-category means):\n" + format_table(summary))
    assert 0.0 <= summary["ALL_CATEGORIES"]["similarity"] < 0.5


def _script(task):
    s = scripts_for(task)
    return s.get("oracle") or s["wrong_call"]


def test_concurrent_episodes_same_verdicts():
    """32 concurrent episodes of different scenarios give the same verdicts as one at a time."""
    tasks = cm2_env.make(ENV_ID).tasks[:32]
    seq = {}
    e = cm2_env.make(ENV_ID)
    for t in tasks:
        info = scripted.run_adapter(e, t.id, _script(t))
        seq[t.id] = (_adapter_fields(info["evaluations"]["toolsandbox"]), info["score"])
    e.close()

    async def all_at_once():
        envs = [cm2_env.make(ENV_ID, task_ids=[t.id]) for t in tasks]

        async def one(en, t):
            info = await scripted.arun_adapter(en, t.id, _script(t))
            return t.id, (_adapter_fields(info["evaluations"]["toolsandbox"]), info["score"])

        try:
            return dict(await asyncio.gather(*(one(en, t) for en, t in zip(envs, tasks))))
        finally:
            for en in envs:
                en.close()

    conc = asyncio.run(all_at_once())
    assert conc == seq


def test_augmentations_scrambled_match_official():
    """Augmented scenarios (distraction tools, scrambled names/descriptions/types): same verdict both ways; the
    oracle maps execution-facing names to the agent-facing (scrambled) ones and still reaches 1.0."""
    from cm2_env.benchmarks.toolsandbox import _ts, loader
    from cm2_env.benchmarks.toolsandbox.env import ToolSandboxEnv

    base = [t.id for t in cm2_env.make(ENV_ID).tasks if t.reference is not None][:3]
    augs = loader.augmentations_of(_ts.all_scenarios())
    assert len(augs) == 7
    tasks = loader.load_scenarios(augmentations=augs, names=[f"{b}_{a}" for b in base for a in augs])
    assert len(tasks) == 21
    e = ToolSandboxEnv(tasks=tasks)
    for task in tasks:
        assert task.reference is not None
        for label, script in scripts_for(task).items():
            official = _official_fields(scripted.play_official(task.id, script))
            info = scripted.run_adapter(e, task.id, script)
            assert _adapter_fields(info["evaluations"]["toolsandbox"]) == official, (task.id, label)
            if label == "oracle":
                assert official["similarity"] == 1.0 and info["score"] == 1.0, task.id
    e.close()


def test_a_model_chosen_call_id_cannot_inject_code(env, tmp_path):
    """ToolSandbox pastes call ids into the Python it executes: only identifiers reach that code (a hostile id
    from a dict action is replaced there, kept in the episode's record), and the hostile step runs nothing."""
    marker = tmp_path / "pwned"
    hostile = f"x = 1; open({str(marker)!r}, 'w').write('x'); y"
    task = env.tasks[0]
    env.reset(options={"task_id": task.id})
    name = task.tools[0]["function"]["name"]
    _, _, _, _, info = env.step({"role": "assistant", "content": "", "tool_calls": [
        {"id": hostile, "type": "function", "function": {"name": name, "arguments": "{}"}}]})
    assert not marker.exists()
    session = env._ep.tool_session
    assert session._safe_id(hostile) == "cm2_call_0" and session._safe_id("call_1") == "call_1"
    assert session._safe_id("import") != "import"  # keywords are not identifiers ToolSandbox can assign to
    assert info["tool_results"][0]["id"] == hostile  # the episode keeps the model's id; only ToolSandbox's code not
    env.step({"role": "assistant", "content": "done"})
