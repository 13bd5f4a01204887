"""LLM user simulator against the scripted loopback server."""

from __future__ import annotations

import json

from cm2_env.users.llm_user import STOP_TOKEN, LLMUser
from cm2_test_servers.scripted import Raw, free_port, last_user_text, system_text
from cm2_test_servers.tasks import weather_task


def script(body):
    text = last_user_text(body)
    if "turn 1 " in text:
        return json.dumps({"message": "weather in paris pls", "done": False})
    if "turn 2 " in text:
        return json.dumps({"message": "ok book a table for 2 at Chez Nous", "done": False})
    return json.dumps({"message": f"thanks, bye {STOP_TOKEN}", "done": False})


SCRIPTED_HANDLER = script


def user(url, **kw):
    return LLMUser(llm={"base_url": url, "model": "u", "timeout": 2, "retries": 0, "reask": 1}, **kw)


CONVO = [{"role": "system", "content": "sys"}, {"role": "user", "content": "What's the weather in Paris?"},
         {"role": "assistant", "content": "<think>call tool</think>", "tool_calls": [{"id": "1", "type": "function",
          "function": {"name": "get_weather", "arguments": "{}"}}]},
         {"role": "tool", "content": "{\"temp_c\": 18}"},
         {"role": "assistant", "content": "<think>ok</think>It is 18°C in Paris."}]


async def test_reference_opening_then_llm_turns_and_stop(scripted_server):
    s = user(scripted_server.url).session(weather_task())
    first = await s.first_message()
    assert first.content == "What's the weather in Paris?" and not scripted_server.requests
    r = await s.reply(CONVO, 1)
    assert r.content == "ok book a table for 2 at Chez Nous" and not r.done
    prompt = last_user_text(scripted_server.requests[0])
    assert "ASSISTANT: It is 18°C in Paris." in prompt and "call tool" not in prompt and "temp_c" not in prompt
    assert "1. What's the weather in Paris?" in prompt  # reference guidance
    sys_text = system_text(scripted_server.requests[0])
    assert "busy traveller" in sys_text and "Prefers Celsius" in sys_text and STOP_TOKEN in sys_text
    r3 = await s.reply(CONVO, 2)  # the scripted server says the stop token
    assert r3.done and r3.content is None and r3.meta["farewell"] == "thanks, bye"


async def test_llm_opening_and_done_flag(scripted_server):
    s = user(scripted_server.url, first_message="llm", guidance="none").session(weather_task())
    first = await s.first_message()
    assert first.content == "weather in paris pls"
    assert "Guidance" not in last_user_text(scripted_server.requests[0])
    scripted_server.handler = lambda body: json.dumps({"message": "", "done": True})
    r = await s.reply(CONVO, 1)
    assert r.done and r.content is None


async def test_turn_bound(scripted_server):
    s = user(scripted_server.url, max_turns=2).session(weather_task())
    r = await s.reply(CONVO, 2)
    assert r.done and r.meta["reason"] == "max_turns" and not scripted_server.requests


async def test_failures_are_flagged(scripted_server):
    scripted_server.handler = lambda body: "I am not JSON"
    s = user(scripted_server.url).session(weather_task())
    r = await s.reply(CONVO, 1)  # falls back to the scripted turn, with the error recorded
    assert r.content == "Book a table for 2 at Chez Nous." and "invalid_output" in r.meta["error"]
    s2 = user(scripted_server.url, fallback_to_reference=False).session(weather_task())
    r2 = await s2.reply(CONVO, 1)
    assert r2.done and r2.content is None and r2.meta["error"].startswith("user_simulator_error")
    s3 = user(f"http://127.0.0.1:{free_port()}/v1", fallback_to_reference=False).session(weather_task())
    r3 = await s3.reply(CONVO, 1)
    assert r3.done and "connection" in r3.meta["error"]


async def test_malformed_completion_falls_back_like_any_fault(scripted_server):
    """A 200 of the wrong shape is an LLM fault like a 500: the scripted turn, with the error recorded."""
    for shape in ({"choices": ["oops"]}, {"choices": [{"message": "hi"}]}, ["a", "list"], {"choices": []}):
        scripted_server.reset()
        scripted_server.handler = lambda body, shape=shape: Raw(shape)
        s = user(scripted_server.url).session(weather_task())
        r = await s.reply(CONVO, 1)
        assert r.content == "Book a table for 2 at Chez Nous." and r.meta["source"] == "reference"
        assert r.meta["error"].startswith("user_simulator_error: malformed_response")
    s2 = user(scripted_server.url, fallback_to_reference=False).session(weather_task())
    r2 = await s2.reply(CONVO, 1)
    assert r2.done and r2.content is None and "malformed_response" in r2.meta["error"]


async def test_malformed_completion_once_is_retried(scripted_server):
    scripted_server.push(Raw({"choices": ["oops"]}))
    u = LLMUser(llm={"base_url": scripted_server.url, "model": "u", "timeout": 2, "retries": 1,
                     "backoff_base": 0.01})
    r = await u.session(weather_task()).reply(CONVO, 1)
    assert r.content == "ok book a table for 2 at Chez Nous" and r.meta == {"source": "llm"}
    assert len(scripted_server.requests) == 2


async def test_unexpected_client_exception_falls_back_too(scripted_server, monkeypatch):
    u = user(scripted_server.url)

    async def broken(*a, **kw):
        raise AttributeError("'str' object has no attribute 'get'")

    monkeypatch.setattr(u.client, "chat_json", broken)
    r = await u.session(weather_task()).reply(CONVO, 1)
    assert r.content == "Book a table for 2 at Chez Nous." and r.meta["error"].startswith(
        "user_simulator_error: internal: AttributeError")


def test_registered_under_llm():
    from cm2_env.components import USER_SIMULATORS

    u = USER_SIMULATORS.build({"name": "llm", "llm": {"base_url": "http://127.0.0.1:1/v1", "model": "m"}})
    assert isinstance(u, LLMUser) and u.client.role == "user"
