"""ToolSandbox's user simulator (``toolsandbox_llm``) against the scripted loopback server: the request is
ToolSandbox's (its user instruction and few-shot dialogues, read from the installed package, in
``OpenAIAPIUser``'s arrangement, with the ``end_conversation`` tool), the user's ``end_conversation`` call ends the
episode and is mirrored into the SANDBOX table, the verdict equals ToolSandbox's runner given the same user
messages, and a server fault is episode error data."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("tool_sandbox")

import cm2_env  # noqa: E402
from cm2_env.benchmarks.toolsandbox import scripted  # noqa: E402
from cm2_env.benchmarks.toolsandbox.user import ToolSandboxLLMUser  # noqa: E402
from cm2_test_servers.scripted import Raw, Status, last_user_text  # noqa: E402

FOLLOW = "What about Christmas then?"
NAME = "find_thanksgiving_timestamp"


def _end_call(body):
    return Raw({"id": "x", "object": "chat.completion", "choices": [{"index": 0, "finish_reason": "tool_calls",
                "message": {"role": "assistant", "content": None, "tool_calls": [{
                    "id": "call_end", "type": "function",
                    "function": {"name": "end_conversation", "arguments": "{}"}}]}}]})


def script(body):
    """The agent's first reply gets a follow-up question; its answer to that, the end_conversation tool call."""
    return _end_call(body) if last_user_text(body) == LAST_REPLY else FOLLOW


SCRIPTED_HANDLER = script
LAST_REPLY = "December 25."


def _user(server):
    return ToolSandboxLLMUser(llm={"base_url": server.url, "model": "u", "timeout": 5, "retries": 0})


def _sandbox(env):
    from tool_sandbox.common.execution_context import DatabaseNamespace

    ctx = env._ep.tool_session.context
    return ctx.get_database(DatabaseNamespace.SANDBOX, get_all_history_snapshots=True,
                            drop_sandbox_message_index=False)


def test_request_is_toolsandbox_users_and_end_conversation_ends(scripted_server):
    from tool_sandbox.scenarios.user_simulator_few_shot_examples import (
        USER_INSTRUCTION,
        named_user_simulator_few_shot_examples,
    )

    env = cm2_env.make("cm2/ToolSandbox-v0", task_ids=[NAME], user=_user(scripted_server))
    task = env.tasks[0]
    from cm2_env.benchmarks.toolsandbox.loader import _sandbox_rows
    from cm2_env.benchmarks.toolsandbox.session import scenario_of

    rows = [r for r in _sandbox_rows(scenario_of(task)) if "USER" in (r["visible_to"] or [r["sender"], r["recipient"]])]
    # what ToolSandbox's user model is sent, derived here from the scenario's rows independently of the adapter
    expected = []
    for r in rows:
        pair = (r["sender"], r["recipient"])
        role = {("SYSTEM", "USER"): "system", ("AGENT", "USER"): "user", ("USER", "AGENT"): "assistant"}.get(pair)
        if role:
            expected.append({"role": role, "content": r["content"]})
    agent_script = scripted.reference_script(task) + [{"role": "assistant", "content": LAST_REPLY}]
    info = scripted.run_adapter(env, NAME, agent_script)

    first, second = scripted_server.requests
    reply = task.reference[-1].content
    assert first["messages"] == expected + [{"role": "user", "content": reply}]
    # ToolSandbox's arrangement: few-shot dialogues first, each opening with its own system message, then the
    # scenario's instruction (USER_INSTRUCTION + its task) and its conversation
    systems = [m["content"] for m in first["messages"] if m["role"] == "system"]
    assert len(systems) >= 2 and all(s.startswith(USER_INSTRUCTION) for s in systems)
    assert systems[-1] == task.metadata["toolsandbox"]["user_instruction"]
    shots = [m["content"] for ex in named_user_simulator_few_shot_examples().values() for m in ex
             if m["sender"] == "SYSTEM"]
    assert set(systems[:-1]) <= set(shots)
    assert [t["function"]["name"] for t in first["tools"]] == ["end_conversation"]
    assert second["messages"][-2:] == [{"role": "assistant", "content": FOLLOW},
                                       {"role": "user", "content": LAST_REPLY}]

    assert info["end_reason"] == "user_done" and not info["episode_errors"]
    assert [m["content"] for m in env.messages if m["role"] == "user"][1] == FOLLOW
    db = _sandbox(env)
    tail = db.tail(2).to_dicts()
    assert (tail[0]["sender"], tail[0]["recipient"], tail[0]["content"]) == ("USER", "EXECUTION_ENVIRONMENT",
                                                                             "end_conversation()")
    assert (tail[1]["sender"], tail[1]["recipient"]) == ("EXECUTION_ENVIRONMENT", "USER")
    assert db["conversation_active"].to_list()[-1] is False
    official = scripted.play_official(NAME, agent_script, [FOLLOW])
    ev = info["evaluations"]["toolsandbox"]
    assert ev["similarity"] == float(official.similarity) and ev["turn_count"] == int(official.turn_count)
    assert info["score"] == 1.0  # the checklist is judged over the whole conversation
    env.close()


def test_server_fault_is_episode_error_data(scripted_server):
    scripted_server.handler = lambda body: Status(500)
    env = cm2_env.make("cm2/ToolSandbox-v0", task_ids=[NAME], user=_user(scripted_server))
    task = env.tasks[0]
    info = scripted.run_adapter(env, NAME, scripted.reference_script(task))
    assert info["end_reason"] == "user_error"
    errs = [e for e in info["episode_errors"] if e["type"] == "user_error"]
    assert errs and "user_simulator_error: server_error" in errs[0]["message"]
    start = env._ep.tool_session.start_index
    new = [r for r in _sandbox(env).to_dicts() if r["sandbox_message_index"] > start]
    assert new[-1]["sender"] == "AGENT" and new[-1]["recipient"] == "USER"  # nothing is mirrored for a fault
    assert not any(r["sender"] == "USER" for r in new)
    assert info["evaluations"]["toolsandbox"]["similarity"] == 1.0  # the episode is still evaluated
    env.close()


def test_unknown_user_tool_is_an_error(scripted_server):
    def other_tool(body):
        raw = _end_call(body)
        raw.body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] = "send_message"
        return raw

    scripted_server.handler = other_tool
    env = cm2_env.make("cm2/ToolSandbox-v0", task_ids=[NAME], user=_user(scripted_server))
    info = scripted.run_adapter(env, NAME, scripted.reference_script(env.tasks[0]))
    assert info["end_reason"] == "user_error"
    assert any("unknown user tool" in e["message"] for e in info["episode_errors"])
    env.close()


def test_registered_and_first_message_is_the_scenarios():
    from cm2_env.components import USER_SIMULATORS

    assert "toolsandbox_llm" in USER_SIMULATORS.names()
    env = cm2_env.make("cm2/ToolSandbox-v0", task_ids=[NAME],
                       user={"name": "toolsandbox_llm", "llm": {"base_url": "http://127.0.0.1:9/v1", "model": "u"}})
    obs, _ = env.reset(options={"task_id": NAME})
    assert obs[1] == {"role": "user", "content": env.tasks[0].turns[0].user}  # no request for the first message
    env.close()
