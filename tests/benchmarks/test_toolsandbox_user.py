"""The ToolSandbox LLM user (ToolSandbox's user instruction as its system prompt) against the scripted loopback
server, in a full episode whose verdict equals ToolSandbox's runner given the same user messages."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("tool_sandbox")

import cm2_env  # noqa: E402
from cm2_env.benchmarks.toolsandbox import scripted  # noqa: E402
from cm2_env.benchmarks.toolsandbox.user import ToolSandboxLLMUser  # noqa: E402
from cm2_test_servers.scripted import last_user_text, system_text  # noqa: E402

FOLLOW = "What about Christmas then?"


def script(body):
    if "turn 2 " in last_user_text(body):
        return json.dumps({"message": FOLLOW, "done": False})
    return json.dumps({"message": "", "done": True})


SCRIPTED_HANDLER = script


def test_llm_user_episode_matches_official(scripted_server):
    name = "find_thanksgiving_timestamp"
    user = ToolSandboxLLMUser(llm={"base_url": scripted_server.url, "model": "u", "timeout": 5, "retries": 0,
                                   "reask": 1})
    env = cm2_env.make("cm2/ToolSandbox-v0", task_ids=[name], user=user)
    task = env.tasks[0]
    agent_script = scripted.reference_script(task) + [{"role": "assistant", "content": "December 25."}]
    info = scripted.run_adapter(env, name, agent_script)
    assert info["end_reason"] == "user_done"
    sys_prompt = system_text(scripted_server.requests[0])
    assert task.metadata["toolsandbox"]["user_instruction"] in sys_prompt
    official = scripted.play_official(name, agent_script, [FOLLOW])
    ev = info["evaluations"]["toolsandbox"]
    assert ev["similarity"] == float(official.similarity) and ev["turn_count"] == int(official.turn_count)
    assert [m["content"] for m in env.messages if m["role"] == "user"][1] == FOLLOW
    env.close()
