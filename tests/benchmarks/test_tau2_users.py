"""tau2 user side and NL judging against the scripted OpenAI-compatible server: the LLM user (tau2's guidelines +
the task's scenario on a cm2 client), tau2's own UserSimulator (litellm, openai/ prefix, api_base), user-side tool
calls, stop tokens, server faults as data, the scripted user's user-side gold actions, tau2's NL-assertion judge.

Runs only in the tau2 venv (scripts/install_tau2_env.sh).
"""

import asyncio
import json

import pytest

from cm2_env.benchmarks.tau2 import _tau2

_tau2._prepare_environ()
pytest.importorskip("tau2")

from agents.reference import ReferenceAgent  # noqa: E402
from cm2_env.benchmarks.tau2.env import Tau2Env, tau2_tasks  # noqa: E402
from cm2_env.benchmarks.tau2.executor import tau2_task  # noqa: E402
from cm2_env.benchmarks.tau2.loader import tau2_to_task  # noqa: E402
from cm2_test_servers.scripted import Raw, Status  # noqa: E402


def SCRIPTED_HANDLER(body):
    return "Thanks, that is all. ###STOP###"


def _llm(srv, **kw):
    return {"base_url": srv.url, "model": "scripted", "retries": 0, "timeout": 20, **kw}


def _run(env, task_id, agent=None):
    async def go():
        obs, info = await env.areset(options={"task_id": task_id})
        ag = agent or ReferenceAgent()
        ag.reset(env.task)
        while True:
            obs, r, term, trunc, info = await env.astep(await ag.act(obs, info))
            if term or trunc:
                return r, info, env._ep
    return asyncio.run(go())


def _tool_call_completion(name, arguments, call_id="ucall_1"):
    return Raw({"id": "x", "object": "chat.completion", "created": 0, "model": "scripted",
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": None,
                    "tool_calls": [{"id": call_id, "type": "function",
                                    "function": {"name": name, "arguments": json.dumps(arguments)}}]}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}})


def _guidelines(use_tools):
    from tau2.user.user_simulator import get_global_user_sim_guidelines

    text = get_global_user_sim_guidelines(use_tools=use_tools)
    return text.split("<PERSONA_GUIDELINES>")[0].strip()


# ------------------------------------------------------------------------------------------------ cm2 LLM user


def test_llm_user_carries_tau2_guidelines_and_scenario_and_stops(scripted_server):
    srv = scripted_server
    srv.push("Hi, I need a new task called 'Important Meeting' for user_1.", "Yes, please go ahead.")
    env = Tau2Env("mock", user={"name": "llm", "llm": _llm(srv)})
    r, info, ep = _run(env, "mock/create_task_1")
    ev = info["evaluations"]["tau2"]
    first = srv.requests[0]
    system = first["messages"][0]
    assert system["role"] == "system"
    assert _guidelines(use_tools=True)[:400] in system["content"]  # mock gives the user tools: the _tools file
    scenario = str(tau2_task(env.task).user_scenario)
    assert scenario in system["content"]
    assert first["messages"][1] == {"role": "user", "content": "Hi! How can I help you today?"}
    assert {t["function"]["name"] for t in first["tools"]} == {"check_notifications", "dismiss_notification"}
    # the third request (after the final reply) answered with ###STOP###: the user ended the episode
    assert ep.end_reason == "user_done" and ev["termination_reason"] == "user_stop"
    assert "###STOP###" in ev["user_stop"]
    assert ev["reward"] == 1.0 and r == pytest.approx(1.0)
    # the user model sees the assistant's texts as "user" and its own as "assistant" (tau2's flip)
    last = srv.requests[-1]["messages"]
    assert last[2]["role"] == "assistant" and last[2]["content"].startswith("Hi, I need")
    assert last[-1]["role"] == "user" and last[-1]["content"].startswith("Done.")


@pytest.mark.parametrize("token", ["###TRANSFER###", "###OUT-OF-SCOPE###"])
def test_llm_user_other_stop_tokens(scripted_server, token):
    srv = scripted_server
    srv.push("Hi, I need a new task called 'Important Meeting' for user_1.", f"Please transfer me. {token}")
    env = Tau2Env("mock", user={"name": "llm", "llm": _llm(srv)})
    r, info, ep = _run(env, "mock/create_task_1")  # the user stops instead of confirming the write
    ev = info["evaluations"]["tau2"]
    assert ep.end_reason == "user_done" and ev["termination_reason"] == "user_stop"
    assert ev["user_stop"].endswith(token) and len(srv.requests) == 2
    assert ev["reward"] == 0.0 and r < 1.0  # the task was not done: both say so


def test_llm_user_runs_user_tools_and_tau2_replays_them(scripted_server):
    """The LLM user dismisses the notification (what the scenario asks): tau2's env assertion on the user DB then
    holds, but the gold lists no user action, so the user DB differs from the gold replay's and tau2's DB check
    fails — the task cannot score 1 under tau2's own evaluator (why it is reported gold-infeasible)."""
    srv = scripted_server
    srv.push(_tool_call_completion("check_notifications", {}),
             "I got a notification: task_1 was assigned to me. I finished it, please mark task_1 completed.",
             "Yes, please go ahead.",
             _tool_call_completion("dismiss_notification", {"notification_id": "notif_1"}, "ucall_2"),
             "Thanks! ###STOP###")
    env = Tau2Env("mock", user={"name": "llm", "llm": _llm(srv)})
    r, info, ep = _run(env, "mock/update_task_with_user_tools")
    ev = info["evaluations"]["tau2"]
    s = ep.tool_session
    assert [e.name for e in s.user_executed] == ["check_notifications", "dismiss_notification"]
    assert "Notification notif_1 dismissed" in s.user_executed[1].message.content
    # the tool result went back to the user model as a tool message
    assert any(m.get("role") == "tool" for m in srv.requests[1]["messages"])
    assert ev["user_tool_calls"] == ["check_notifications", "dismiss_notification"]
    assert ev["reward_breakdown"]["ENV_ASSERTION"] == 1.0 and ev["db_match"] is False and ev["reward"] == 0.0
    assert "gold_infeasible" in ev


def test_llm_user_server_fault_is_episode_error(scripted_server):
    srv = scripted_server
    srv.push("Hi, please create a task 'Important Meeting' for user_1.")
    srv.handler = lambda body: Status(500)
    env = Tau2Env("mock", user={"name": "llm", "llm": _llm(srv)})
    r, info, ep = _run(env, "mock/create_task_1")
    assert ep.end_reason == "user_error"
    assert any(e.kind == "user_error" and "user_simulator_error" in e.message for e in ep.errors)
    assert info["evaluations"]["tau2"]["termination_reason"] == "user_error"
    assert info["evaluations"]["tau2"]["reward"] == 0.0


# ------------------------------------------------------------------------------------------------ tau2's own user


def test_tau2_native_user_behind_base_url(scripted_server):
    srv = scripted_server
    srv.push("Hi, I need a new task called 'Important Meeting' for user_1.", "Yes, please go ahead.",
             "Great, thanks. ###STOP###")
    env = Tau2Env("mock", user={"name": "tau2", "model": "scripted", "base_url": srv.url, "num_retries": 0})
    r, info, ep = _run(env, "mock/create_task_1")
    ev = info["evaluations"]["tau2"]
    assert len(srv.requests) == 3
    first = srv.requests[0]
    assert first["model"] == "scripted"  # litellm stripped the openai/ prefix
    from tau2.user.user_simulator import UserSimulator

    t = tau2_task(env.task)
    want = UserSimulator(llm="x", instructions=str(t.user_scenario),
                         tools=ep.tool_session.env.get_user_tools()).system_prompt
    assert first["messages"][0]["content"] == want
    assert ev["termination_reason"] == "user_stop" and "###STOP###" in ev["user_stop"]
    assert ev["reward"] == 1.0


def test_tau2_native_user_fault_is_episode_error(scripted_server):
    srv = scripted_server
    srv.handler = lambda body: Status(500)
    env = Tau2Env("mock", user={"name": "tau2", "model": "scripted", "base_url": srv.url, "num_retries": 0,
                                "llm_args": {"max_retries": 0}})
    obs, info = env.reset(options={"task_id": "mock/create_task_1"})
    assert info["errors"] and info["errors"][0]["type"] == "user_error"
    assert "user_simulator_error" in info["errors"][0]["message"]


# ------------------------------------------------------------------------------------------------ scripted user


def test_scripted_user_performs_user_side_gold_actions():
    """A task whose gold lists a user-requestor action: the scripted user performs it on the user environment,
    tau2's evaluator replays it from the trajectory, and the reference scores 1 (official and checklist)."""
    base = next(t for t in tau2_tasks("mock") if t.id == "mock/update_task_with_user_tools")
    t = tau2_task(base).model_copy(deep=True)
    A = type(t.evaluation_criteria.actions[0])
    t.evaluation_criteria.actions.append(A(action_id="user_dismiss", requestor="user", name="dismiss_notification",
                                           arguments={"notification_id": "notif_1"}))
    t.evaluation_criteria.reward_basis = [b for b in t.evaluation_criteria.reward_basis if b.value != "NL_ASSERTION"]
    task = tau2_to_task("mock", t)
    meta = task.metadata["tau2"]
    assert meta["user_turn_actions"][-1] == [1] and meta["user_requestor_actions"] == ["user_dismiss"]
    assert [i.check.requestor for i in task.turns[-1].checklist if i.id == "U0"] == ["user"]
    env = Tau2Env("mock", tasks=[task])
    r, info, ep = _run(env, task.id)
    ev = info["evaluations"]["tau2"]
    assert [e.name for e in ep.tool_session.user_executed] == ["dismiss_notification"]
    assert "gold_infeasible" not in ev
    assert ev["reward"] == 1.0 and ev["db_match"] is True, ev
    assert r == pytest.approx(1.0)
    # tau2's evaluate_simulation on a trajectory built here, with and without the user-side call
    assert _independent(t, with_user_call=True) == 1.0 and _independent(t, with_user_call=False) == 0.0


def _independent(t, with_user_call):
    from tau2.data_model.message import AssistantMessage, ToolCall, UserMessage
    from tau2.data_model.simulation import SimulationRun, TerminationReason
    from tau2.evaluator.evaluator import EvaluationType, evaluate_simulation
    from tau2.registry import registry

    with _tau2.original_constructors():
        return _independent_here(t, with_user_call, AssistantMessage, ToolCall, UserMessage, SimulationRun,
                                 TerminationReason, EvaluationType, evaluate_simulation, registry)


def _independent_here(t, with_user_call, AssistantMessage, ToolCall, UserMessage, SimulationRun, TerminationReason,
                      EvaluationType, evaluate_simulation, registry):
    env = registry.get_env_constructor("mock")()
    init = t.initial_state
    env.set_state(init.initialization_data, init.initialization_actions, list(init.message_history or []))
    msgs = [UserMessage(role="user", content="hi")]
    for a in t.evaluation_criteria.actions:
        call = ToolCall(id=a.action_id, name=a.name, arguments=a.arguments, requestor=a.requestor)
        if a.requestor == "user" and not with_user_call:
            continue
        msgs.append(UserMessage(role="user", tool_calls=[call]) if a.requestor == "user"
                    else AssistantMessage(role="assistant", tool_calls=[call]))
        msgs.append(env.get_response(call))
    msgs.append(AssistantMessage(role="assistant", content="Done."))
    run = SimulationRun(id="x", task_id=t.id, start_time="", end_time="", duration=0.0,
                        termination_reason=TerminationReason.USER_STOP, messages=msgs)
    return evaluate_simulation(run, t, EvaluationType.ALL, False, "mock").reward


# ------------------------------------------------------------------------------------------------ NL judging


def _judge_handler(met):
    def handler(body):
        text = "\n".join(m.get("content") or "" for m in body["messages"])
        if "expectedOutcomes" in text:  # tau2's NLAssertionsEvaluator
            outcomes = text.split("expectedOutcomes:")[1].strip()
            items = eval(outcomes.splitlines()[0].strip())  # tau2 formats the list with str(); test data only
            return json.dumps({"results": [{"expectedOutcome": a, "reasoning": "scripted", "metExpectation": met}
                                           for a in items]})
        rf = body.get("response_format") or {}
        ids = rf.get("json_schema", {}).get("schema", {}).get("properties", {}).get("verdicts", {}).get("required")
        if ids:  # cm2's batched checklist judge
            return json.dumps({"verdicts": {i: {"rationale": "scripted", "step": None, "answer": met} for i in ids}})
        return "###STOP###"
    return handler


def _nl_task():
    """mock's NL task with NL_ASSERTION in its reward basis (as 112 of retail's 114 tasks have)."""
    base = next(t for t in tau2_tasks("mock") if t.id == "mock/create_task_1_nl_eval")
    t = tau2_task(base).model_copy(deep=True)
    t.evaluation_criteria.reward_basis = list(t.evaluation_criteria.reward_basis) + [
        type(t.evaluation_criteria.reward_basis[0])("NL_ASSERTION")]
    task = tau2_to_task("mock", t)
    assert task.metadata["tau2"]["needs_llm"]
    return task


@pytest.mark.parametrize("met", [True, False])
def test_nl_assertions_judged_by_tau2_evaluator(scripted_server, met):
    srv = scripted_server
    srv.handler = _judge_handler(met)
    cfg = _llm(srv)
    task = _nl_task()
    env = Tau2Env("mock", tasks=[task], nl_judge={"base_url": srv.url, "model": "scripted", "num_retries": 0},
                  judge={"name": "llm", "llm": cfg})
    r, info, ep = _run(env, task.id)
    ev = info["evaluations"]["tau2"]
    tau2_reqs = [b for b in srv.requests if "expectedOutcomes" in b["messages"][-1]["content"]]
    assert len(tau2_reqs) == 1 and tau2_reqs[0]["model"] == "scripted"
    assert ev["needs_llm"] is True and ev["judge"] == "openai/scripted"
    assert ev["reward"] == (1.0 if met else 0.0)
    assert ev["reward_breakdown"]["NL_ASSERTION"] == (1.0 if met else 0.0)
    assert ev["nl_assertions"] and all(c["met"] is met for c in ev["nl_assertions"])
    # cm2's judge decided the NL checklist items too (items without a programmatic check)
    nl_items = [v for tr in ep.turn_results for v in tr.verdicts.values() if v.item_id.startswith("N")]
    assert nl_items and all(v.status == ("passed" if met else "failed") for v in nl_items), nl_items
    assert (r == pytest.approx(1.0)) is met  # the checklist and the official reward agree


def test_nl_tasks_without_judge_are_flagged_and_judge_fault_too(scripted_server):
    task = _nl_task()
    env = Tau2Env("mock", tasks=[task])
    _, info, _ = _run(env, task.id)
    ev = info["evaluations"]["tau2"]
    assert ev["needs_llm"] and ev["reward"] is None and ev["reward_without_nl"] == 1.0 and "needs judge" in ev["note"]
    srv = scripted_server
    srv.handler = lambda body: Status(500)
    env = Tau2Env("mock", tasks=[task], nl_judge={"base_url": srv.url, "model": "scripted", "num_retries": 0})
    _, info, _ = _run(env, task.id)
    ev = info["evaluations"]["tau2"]
    assert ev["reward"] is None and "judge_error" in ev and ev["reward_without_nl"] == 1.0


def test_cli_llm_user_and_judge_plumbing(scripted_server, tmp_path, capsys):
    """`cm2 eval tau2 --user llm --user-llm ... --judge-llm ...` through the shared run job."""
    import argparse

    from cm2_env.benchmarks.tau2 import cli

    srv = scripted_server
    srv.handler = _judge_handler(True)  # judge requests get verdicts, the user's last request ###STOP###
    srv.push("Hi, I need a new task called 'Important Meeting' for user_1.", "Yes, please go ahead.")
    p = argparse.ArgumentParser()
    cli.add_parser(p)
    out = tmp_path / "run.jsonl"
    args = p.parse_args(["--domain", "mock", "--task-ids", "create_task_1", "--agent", "reference", "--user", "llm",
                         "--user-llm", f"base_url={srv.url}", "model=scripted", "retries=0",
                         "--judge-llm", f"base_url={srv.url}", "model=scripted", "retries=0",
                         "--out", str(out), "--quiet", "--concurrency", "1"])
    assert cli.run(args) == 0
    rec = json.loads(out.read_text().splitlines()[0])
    ev = rec["evaluations"]["tau2"]
    assert ev["reward"] == 1.0 and ev["termination_reason"] == "user_stop", (rec, srv.requests)
    assert "###STOP###" in ev["user_stop"], (rec, srv.requests)
    assert "avg reward 1.0000" in capsys.readouterr().out
    user_reqs = [b for b in srv.requests if "<scenario>" in b["messages"][0]["content"]]
    judge_reqs = [b for b in srv.requests if b.get("response_format")]
    assert len(user_reqs) == 3 and len(judge_reqs) == 1  # cm2's judge decided the task's NL checklist item
    assert rec["score"] == 1.0
