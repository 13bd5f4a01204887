"""BFCL executor: real execution, per-episode isolation, errors as data; official checker; state judge."""

from __future__ import annotations

import asyncio
import copy
import inspect
import json

import pytest

pytest.importorskip("bfcl_eval", reason="needs bfcl-eval: scripts/install_bfcl_env.sh .venv-bfcl")

from cm2_env.benchmarks.bfcl import _bfcl  # noqa: E402
from cm2_env.benchmarks.bfcl.executor import BFCLInstances, BFCLToolExecutor, render_result  # noqa: E402
from cm2_env.benchmarks.bfcl.outcome import state_matches, turn_outcome  # noqa: E402
from cm2_env.benchmarks.bfcl.loader import load_category  # noqa: E402
from cm2_env.benchmarks.bfcl.official import BFCLOfficialEvaluator, official_verdict  # noqa: E402
from cm2_env.judge.base import TurnJudgeRequest  # noqa: E402
from cm2_env.judge.policy import JudgingPolicy  # noqa: E402
from cm2_env.types import ToolCall  # noqa: E402

CLASSES = ["GorillaFileSystem", "MathAPI", "MessageAPI", "TwitterAPI", "TicketAPI", "TradingBot", "TravelAPI",
           "VehicleControlAPI"]


@pytest.fixture(scope="module")
def base_task():
    return load_category("base", ids=["multi_turn_base_0"])[0]


def _call(name, **args):
    return ToolCall(id=f"c_{name}", name=name, arguments=args, raw_arguments=json.dumps(args))


def _messages(task):
    return [{"role": "system", "content": ""}] + [m.model_dump(exclude_none=True) for m in task.reference]


# ------------------------------------------------------------------------------------------ executor


@pytest.mark.parametrize("cls", CLASSES)
def test_classes_keep_no_mutable_class_level_state(cls):
    klass = _bfcl.class_for(cls)
    for name, value in vars(klass).items():
        if name.startswith("__") or inspect.isfunction(value) or isinstance(value, (staticmethod, classmethod, property)):
            continue
        assert isinstance(value, (str, int, float, bool, type(None), tuple, frozenset)), (cls, name, type(value))


def test_render_result_matches_bfcl():
    assert render_result("x") == "x"
    assert render_result({"a": 1}) == '{"a": 1}'
    assert render_result([1, "a"]) == "[1, 'a']"
    assert render_result(None) == "None"


async def test_session_executes_really_and_keeps_state(base_task):
    s = BFCLToolExecutor().session(base_task)
    r = await s.call(_call("cd", folder="document"))
    assert r.error is None and r.source == "executor" and json.loads(r.content) == {"current_working_directory": "document"}
    await s.call(_call("mkdir", dir_name="temp"))
    await s.call(_call("mv", source="final_report.pdf", destination="temp"))
    r = await s.call(_call("ls"))
    assert "temp" in r.content and "final_report.pdf" not in r.content
    assert [c.name for c in s.executed] == ["cd", "mkdir", "mv", "ls"]


async def test_errors_are_data(base_task):
    s = BFCLToolExecutor().session(base_task)
    r = await s.call(_call("cd", nonexistent="x"))
    assert r.error == "execution_error" and r.content.startswith("Error during execution:")
    r = await s.call(_call("cd", folder="no_such_dir"))
    assert r.error is None and r.meta.get("domain_error") and "error" in json.loads(r.content)
    r = await s.call(_call("not_a_method"))
    assert r.error == "unknown_tool"
    s.close()
    r = await s.call(_call("ls"))
    assert r.error == "session_closed"


async def test_sessions_are_isolated_and_config_is_never_mutated(base_task):
    before = copy.deepcopy(base_task.metadata["bfcl"]["initial_config"])
    ex = BFCLToolExecutor()
    a, b = ex.session(base_task), ex.session(base_task)
    await a.call(_call("cd", folder="document"))
    await a.call(_call("rm", file_name="final_report.pdf"))
    await a.call(_call("authenticate_twitter", username="analyst_pro", password="Kj8#mP9$vL2"))
    assert "id" in json.loads((await a.call(_call("post_tweet", content="hi", tags=["#x"]))).content)
    rb = await b.call(_call("cd", folder="document"))
    assert json.loads(rb.content)["current_working_directory"] == "document"
    assert "final_report.pdf" in (await b.call(_call("ls"))).content
    assert len(b.state()["TwitterAPI"]["tweets"]) == 3 and len(a.state()["TwitterAPI"]["tweets"]) == 4
    assert base_task.metadata["bfcl"]["initial_config"] == before
    assert all(a.instances.instances[k] is not b.instances.instances[k] for k in a.instances.instances)


async def test_arguments_are_not_mutated_by_the_classes():
    task = load_category("base", ids=["multi_turn_base_90"])[0]
    s = BFCLToolExecutor().session(task)
    await s.call(_call("authenticate_twitter", username="michael_smith", password="michael2023"))
    args = {"content": "trip", "tags": ["#a"], "mentions": ["@b"]}
    call = ToolCall("c1", "post_tweet", args, json.dumps(args))
    tweet = json.loads((await s.call(call)).content)
    await s.call(_call("mention", tweet_id=tweet["id"], mentioned_usernames=["@c"]))
    assert args["mentions"] == ["@b"]


async def test_held_out_function_refused_until_its_turn():
    task = load_category("miss_func", ids=["multi_turn_miss_func_0"])[0]
    s = BFCLToolExecutor().session(task)
    s.begin_turn(2)
    r = await s.call(_call("sort", file_name="final_report.pdf"))
    assert r.error == "unknown_tool" and not s.executed
    s.begin_turn(3)
    await s.call(_call("cd", folder="document"))
    r = await s.call(_call("sort", file_name="final_report.pdf"))
    assert r.error is None and s.executed[-1].name == "sort"


def test_long_context_loads_bigger_state():
    task = load_category("long_context", ids=["multi_turn_long_context_0"])[0]
    short = load_category("base", ids=["multi_turn_base_0"])[0]
    lc = BFCLInstances.for_task(task)
    sh = BFCLInstances.for_task(short)
    assert lc.long_context and not sh.long_context
    assert len(lc.execute("ls", {"a": True}).content) >= len(sh.execute("ls", {"a": True}).content)


# ----------------------------------------------------------------------------------- official verdict


@pytest.mark.parametrize("category", _bfcl.CATEGORIES)
def test_official_verdict_accepts_the_reference(category):
    for task in load_category(category, limit=25):
        v = official_verdict(task, _messages(task))
        assert v["valid"] is True and v["accuracy"] == 1.0, (task.id, v)


def test_official_verdict_rejects_wrong_state_and_truncated_episodes(base_task):
    msgs = _messages(base_task)
    bad = copy.deepcopy(msgs)
    for m in bad:
        for tc in m.get("tool_calls") or []:
            if tc["function"]["name"] == "mkdir":
                tc["function"]["arguments"] = json.dumps({"dir_name": "tmp"})
    v = official_verdict(base_task, bad)
    assert v["valid"] is False and v["error_type"].startswith("multi_turn:")
    cut = msgs[: [i for i, m in enumerate(msgs) if m["role"] == "user"][2]]
    v = official_verdict(base_task, cut)
    assert v["valid"] is False and v["error_type"] == "multi_turn:force_terminated"


def test_official_verdict_leaves_no_instances_in_bfcl_globals(base_task):
    utils = _bfcl.checker_utils_module()
    before = {k for k in vars(utils) if k.endswith("_instance")}
    for _ in range(3):
        official_verdict(base_task, _messages(base_task))
    assert {k for k in vars(utils) if k.endswith("_instance")} == before


def test_calls_rejected_by_validation_are_not_replayed(base_task):
    msgs = _messages(base_task)
    # an extra call with schema-invalid arguments (env would reject it): must not count as executed
    first_assistant = next(i for i, m in enumerate(msgs) if m["role"] == "assistant")
    msgs.insert(first_assistant, {"role": "assistant", "content": "", "tool_calls": [
        {"id": "bad", "type": "function", "function": {"name": "rm", "arguments": json.dumps({"file_name": 5})}}]})
    msgs.insert(first_assistant + 1, {"role": "tool", "tool_call_id": "bad", "content": '{"error": "invalid_arguments"}'})
    v = official_verdict(base_task, msgs)
    assert v["valid"] is True and "rm(file_name=5)" not in json.dumps(v["decoded"])


async def test_evaluator_protocol(base_task):
    ev = BFCLOfficialEvaluator()
    assert ev.name == "bfcl"
    out = await ev.evaluate(base_task, _messages(base_task), None)
    assert out["valid"] is True


# --------------------------------------------------------------------------------------- outcome checks


@pytest.mark.parametrize("with_session", [False, True])
async def test_outcome_checks_pass_reference_and_fail_divergent_state(base_task, with_session):
    # the bfcl_state / bfcl_response check types judge through the plain judging policy (no BFCL judge);
    # with the episode's tool session they use its record of executed calls, without it they re-derive it
    judge = JudgingPolicy()
    session = BFCLToolExecutor().session(base_task) if with_session else None
    turns = base_task.reference_turns()
    history: list[dict] = [{"role": "system", "content": ""}]
    for t, tm in enumerate(turns):
        if session is not None:
            session.begin_turn(t)
            for m in tm:
                for tc in m.get("tool_calls") or []:
                    fn = tc["function"]
                    await session.call(ToolCall(tc["id"], fn["name"], json.loads(fn["arguments"]), fn["arguments"]))
        req = TurnJudgeRequest(base_task, t, base_task.turns[t].checklist, tm, history, session=session)
        judged = await judge.judge_turn(req)
        assert judged.errors == []
        assert all(v.status == "passed" for v in judged.verdicts.values()), (t, judged.verdicts)
        assert {v.item_id for v in judged.verdicts.values() if v.source == "rule"} == {
            it.id for it in base_task.turns[t].checklist}
        history = history + tm
    wrong = copy.deepcopy(turns[0])
    for m in wrong:
        for tc in m.get("tool_calls") or []:
            if tc["function"]["name"] == "mkdir":
                tc["function"]["arguments"] = json.dumps({"dir_name": "tmp"})
    ok, why = state_matches(base_task, [{"role": "system", "content": ""}] + wrong, 0)
    assert not ok and "GorillaFileSystem" in why
    # a turn that changes the right state but never fetches what the user asked for fails the response item
    turn1 = copy.deepcopy(turns[1])  # cd temp; grep budget analysis
    turn1 = [m for m in turn1 if not (m["role"] == "tool" and m.get("name") == "grep")]
    for m in turn1:
        if m.get("tool_calls"):
            m["tool_calls"] = [tc for tc in m["tool_calls"] if tc["function"]["name"] != "grep"]
    turn1 = [m for m in turn1 if m["role"] != "assistant" or m.get("tool_calls") or m.get("content")]
    out = turn_outcome(base_task, [{"role": "system", "content": ""}] + turns[0] + turn1, 1)
    assert out["state"][0] is True and out["response"][0] is False and "budget analysis" in out["response"][1]
