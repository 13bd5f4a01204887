"""LLM checklist judge against the scripted loopback server: modes, votes, failures."""

from __future__ import annotations

import itertools
import json

from cm2_env.judge.base import TurnJudgeRequest
from cm2_env.judge.llm_judge import LLMJudge
from cm2_test_servers.roles import judge_answer
from cm2_test_servers.scripted import Raw, free_port, last_user_text
from cm2_test_servers.tasks import weather_task

TASK = weather_task()
HISTORY = [{"role": "system", "content": "You are a helpful assistant."}]
TURN_GOOD = [
    {"role": "user", "content": "What's the weather in Paris?"},
    {"role": "assistant", "content": "<think>use the tool</think>", "tool_calls": [
        {"id": "1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "name": "get_weather", "content": "{\"temp_c\": 18}"},
    {"role": "assistant", "content": "It is 18 degrees in Paris, have a nice day!"},
]
TURN_BAD = TURN_GOOD[:3] + [{"role": "assistant", "content": "It is sunny."}]


def items():
    its = [it for it in TASK.turns[0].checklist if it.check is None]  # C1, C2
    its[0] = its[0].model_copy(update={"pass_condition": 'The reply mentions "18 degrees".'})
    return its


def req(turn):
    return TurnJudgeRequest(TASK, 0, items(), turn, HISTORY)


SCRIPTED_HANDLER = judge_answer


def judge(url, **kw):
    return LLMJudge(llm={"base_url": url, "model": "j", "timeout": 2, "retries": 0, "reask": 1}, **kw)


async def test_batched_one_call_per_turn(scripted_server):
    v = await judge(scripted_server.url).judge_turn(req(TURN_GOOD))
    assert len(scripted_server.requests) == 1
    assert v["C1"].status == "passed" and v["C1"].step == 3 and v["C1"].source == "llm"
    assert v["C1"].rationale == "all required text present"
    assert v["C2"].status == "passed"
    rf = scripted_server.requests[0]["response_format"]["json_schema"]["schema"]
    assert rf["properties"]["verdicts"]["required"] == ["C1", "C2"]
    prompt = last_user_text(scripted_server.requests[0])
    assert "[step 1] ASSISTANT thinking: use the tool" in prompt
    assert "[step 1] ASSISTANT tool call: get_weather(" in prompt
    assert "Failure examples: Says it is sunny without a temperature." in prompt
    assert 'Reference evidence: "It is 18°C and sunny in Paris."' in prompt
    bad = await judge(scripted_server.url).judge_turn(req(TURN_BAD))
    assert bad["C1"].status == "failed" and bad["C1"].step is None and "missing" in bad["C1"].rationale


async def test_per_item_mode(scripted_server):
    v = await judge(scripted_server.url, mode="per_item").judge_turn(req(TURN_BAD))
    assert len(scripted_server.requests) == 2
    assert v["C1"].status == "failed" and v["C2"].status == "passed"
    assert all("## Checklist item\nItem C" in last_user_text(b) for b in scripted_server.requests)


async def test_votes_majority(scripted_server):
    answers = itertools.cycle([True, False, True])
    scripted_server.handler = lambda body: json.dumps({"rationale": "r", "step": 3, "answer": next(answers)})
    v = await judge(scripted_server.url, mode="per_item", votes=3, vote_temperature=0.7).judge_turn(
        TurnJudgeRequest(TASK, 0, items()[:1], TURN_GOOD, HISTORY))
    assert len(scripted_server.requests) == 3 and all(b["temperature"] == 0.7 for b in scripted_server.requests)
    assert v["C1"].status == "passed" and "votes yes=2 no=1" in v["C1"].rationale


async def test_vote_tie_and_partial_errors(scripted_server):
    answers = iter(['{"rationale": "a", "answer": true}', '{"rationale": "b", "answer": false}'])
    scripted_server.handler = lambda body: next(answers, "garbage")
    v = await judge(scripted_server.url, mode="per_item", votes=4).judge_turn(
        TurnJudgeRequest(TASK, 0, items()[:1], TURN_GOOD, HISTORY))
    assert v["C1"].status == "failed" and "tie" in v["C1"].rationale and "errors=2" in v["C1"].rationale


async def test_missing_verdict_is_reasked(scripted_server):
    first = True

    def handler(body):
        nonlocal first
        if first:
            first = False
            return json.dumps({"verdicts": {"C1": {"rationale": "x", "answer": True}}})
        return judge_answer({"messages": body["messages"][:2]})

    scripted_server.handler = handler
    v = await judge(scripted_server.url).judge_turn(req(TURN_GOOD))
    assert len(scripted_server.requests) == 2 and "C2" in last_user_text(scripted_server.requests[1])
    assert v["C1"].status == "passed" and v["C2"].status == "passed"


async def test_failures_become_error_verdicts(scripted_server):
    scripted_server.handler = lambda body: "not json at all"
    v = await judge(scripted_server.url).judge_turn(req(TURN_GOOD))
    assert {x.status for x in v.values()} == {"error"} and "invalid_output" in v["C1"].rationale
    down = await judge(f"http://127.0.0.1:{free_port()}/v1", mode="per_item").judge_turn(req(TURN_GOOD))
    assert {x.status for x in down.values()} == {"error"} and "connection" in down["C2"].rationale


async def test_malformed_completion_becomes_error_verdicts(scripted_server):
    scripted_server.handler = lambda body: Raw({"choices": ["oops"]})
    for mode in ("batched", "per_item"):
        v = await judge(scripted_server.url, mode=mode).judge_turn(req(TURN_GOOD))
        assert {x.status for x in v.values()} == {"error"}
        assert all(x.rationale.startswith("judge error: malformed_response") for x in v.values())
    scripted_server.reset()
    scripted_server.handler = judge_answer
    scripted_server.push(Raw("not an object"))  # once, then good: retried
    v = await LLMJudge(llm={"base_url": scripted_server.url, "model": "j", "timeout": 2, "retries": 1,
                            "backoff_base": 0.01}).judge_turn(req(TURN_GOOD))
    assert v["C1"].status == "passed" and v["C2"].status == "passed"


def test_registered_under_llm():
    from cm2_env.components import JUDGES

    j = JUDGES.build({"name": "llm", "llm": {"base_url": "http://127.0.0.1:1/v1", "model": "m"},
                      "mode": "per_item", "votes": 3})
    assert isinstance(j, LLMJudge) and j.votes == 3 and j.client.role == "judge"


async def test_votes_at_zero_temperature_are_sampled(scripted_server):
    await judge(scripted_server.url, mode="per_item", votes=2).judge_turn(
        TurnJudgeRequest(TASK, 0, items()[:1], TURN_GOOD, HISTORY))
    assert [b["temperature"] for b in scripted_server.requests] == [0.7, 0.7]
    scripted_server.reset()
    await judge(scripted_server.url, mode="per_item").judge_turn(
        TurnJudgeRequest(TASK, 0, items()[:1], TURN_GOOD, HISTORY))
    assert scripted_server.requests[0]["temperature"] == 0.0
