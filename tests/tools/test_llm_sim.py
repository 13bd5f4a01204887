"""LLM tool simulator against the scripted loopback server: replay, prompt, group memo, failures."""

from __future__ import annotations

import asyncio
import json

from cm2_env.llm import UsageMeter, track_usage
from cm2_env.tools.llm_sim import LLMToolSimulator
from cm2_env.types import ToolCall
from cm2_test_servers.scripted import Delay, Raw, free_port, last_user_text
from cm2_test_servers.tasks import weather_task


def answer(body):
    """Result depends on the request: echo the call line."""
    text = last_user_text(body)
    call_line = text.split("## Call to answer\n", 1)[1].splitlines()[0]
    return json.dumps({"result": {"echo": call_line, "ok": True}})


SCRIPTED_HANDLER = answer


def sim(url, **kw):
    llm = {"base_url": url, "model": "sim", "timeout": 2, "retries": 1, "backoff_base": 0.01, "reask": 1}
    return LLMToolSimulator(llm=llm, **kw)


def call(name, **args):
    return ToolCall(id="x", name=name, arguments=args, raw_arguments=json.dumps(args))


async def test_replay_then_llm_with_history_and_fewshot(scripted_server):
    s = sim(scripted_server.url).session(weather_task(), group_key=None)
    r = await s.call(call("get_weather", unit="c", city="Paris"))  # default filled, key order: replay
    assert r.source == "replay" and json.loads(r.content)["temp_c"] == 18 and not scripted_server.requests
    r2 = await s.call(call("get_weather", city="Lyon"))
    assert r2.source == "llm" and r2.error is None
    assert json.loads(r2.content) == {"echo": 'get_weather({"city": "Lyon"})', "ok": True}
    prompt = last_user_text(scripted_server.requests[0])
    assert '"name": "get_weather"' in prompt  # the schema
    assert 'get_weather({"city": "Paris"}) -> {"temp_c": 18' in prompt  # reference few-shot
    assert "Results already returned in this session" in prompt and "sunny" in prompt  # episode history
    r3 = await s.call(call("book_table", restaurant="X", people=3))
    prompt3 = last_user_text(scripted_server.requests[1])
    assert "Lyon" in prompt3.split("Results already returned", 1)[1]  # earlier LLM result kept in the world
    assert r3.source == "llm"
    r4 = await s.call(call("get_weather", city="Lyon"))  # same call again in the episode: memo
    assert r4.source == "memo" and r4.content == r2.content and len(scripted_server.requests) == 2


async def test_fewshot_budget(scripted_server):
    s = sim(scripted_server.url, fewshot_token_budget=5).session(weather_task())
    await s.call(call("get_weather", city="Rome"))
    assert "Real calls and results" not in last_user_text(scripted_server.requests[0])


async def test_group_memo_shares_one_llm_call_even_concurrently(scripted_server):
    scripted_server.handler = lambda body: Delay(0.3, answer(body))
    backend = sim(scripted_server.url)
    task = weather_task()
    meter = UsageMeter()
    sessions = [backend.session(task, group_key="g1") for _ in range(8)]
    with track_usage(meter):
        results = await asyncio.gather(*(s.call(call("get_weather", city="Oslo")) for s in sessions))
    assert len(scripted_server.requests) == 1
    assert len({r.content for r in results}) == 1
    assert sorted(r.source for r in results) == ["llm"] + ["memo"] * 7
    assert meter.roles["simulator"].calls == 1 and meter.roles["simulator"].memo_hits == 7
    # later rollout of the same group: memo; canonical arguments (key order / defaults) match too
    late = backend.session(task, group_key="g1")
    r = await late.call(call("get_weather", unit="c", city="Oslo"))
    assert r.source == "memo" and r.meta["memo"] == "group" and len(scripted_server.requests) == 1
    # another group pays its own call
    other = backend.session(task, group_key="g2")
    await other.call(call("get_weather", city="Oslo"))
    assert len(scripted_server.requests) == 2
    assert backend.memo_stats()["hits"] == 8


async def test_history_scoped_memo(scripted_server):
    backend = sim(scripted_server.url, memo_scope="history")
    task = weather_task()
    a, b = backend.session(task, group_key="g"), backend.session(task, group_key="g")
    await a.call(call("get_weather", city="Oslo"))
    await b.call(call("book_table", restaurant="Y", people=2))
    await b.call(call("get_weather", city="Oslo"))  # different history: its own answer
    assert len(scripted_server.requests) == 3


async def test_bad_output_becomes_flagged_error_and_is_not_memoised(scripted_server):
    scripted_server.handler = lambda body: '{"result": {"temp": 3'  # truncated, every time
    backend = sim(scripted_server.url)
    s = backend.session(weather_task(), group_key="g")
    r = await s.call(call("get_weather", city="Nice"))
    assert r.error == "simulator_error" and r.meta["simulator_error"] == "invalid_output"
    assert json.loads(r.content)["error"] == "simulator_error"
    scripted_server.handler = answer
    r2 = await backend.session(weather_task(), group_key="g").call(call("get_weather", city="Nice"))
    assert r2.error is None and r2.source == "llm"


async def test_server_down_becomes_flagged_error():
    backend = sim(f"http://127.0.0.1:{free_port()}/v1")
    r = await backend.session(weather_task()).call(call("get_weather", city="Nice"))
    assert r.error == "simulator_error" and r.meta["simulator_error"] == "connection"


async def test_malformed_completion_becomes_flagged_error(scripted_server):
    scripted_server.handler = lambda body: Raw({"choices": [{"message": {"content": 42}}]})
    meter = UsageMeter()
    backend = sim(scripted_server.url)
    with track_usage(meter):
        r = await backend.session(weather_task(), group_key="g").call(call("get_weather", city="Nice"))
    assert r.error == "simulator_error" and r.meta["simulator_error"] == "malformed_response"
    assert json.loads(r.content)["error"] == "simulator_error"
    assert len(scripted_server.requests) == 2  # retried once (retries=1), then flagged
    u = meter.roles["simulator"]
    assert u.failures == 1 and u.malformed == 2 and u.retries == 1
    scripted_server.reset()
    scripted_server.handler = answer
    scripted_server.push(Raw({"choices": ["oops"]}))  # once, then good: retried, not memoised as an error
    r2 = await backend.session(weather_task(), group_key="g").call(call("get_weather", city="Nice"))
    assert r2.error is None and r2.source == "llm" and json.loads(r2.content)["ok"] is True


def test_registered_under_llm():
    from cm2_env.components import TOOL_BACKENDS

    b = TOOL_BACKENDS.build({"name": "llm", "llm": {"base_url": "http://127.0.0.1:1/v1", "model": "m"},
                             "memo": "episode"})
    assert isinstance(b, LLMToolSimulator) and b.memo == "episode" and b.client.role == "simulator"
