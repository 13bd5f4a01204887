"""The client layer against a scripted loopback server: each fault ends as a retry success or a flagged failure."""

from __future__ import annotations

import asyncio
import json
import time

import pytest


from cm2_env.llm import LLMClient, LLMConfig, LLMConfigError, LLMError, UsageMeter, track_usage
from cm2_test_servers.scripted import BadBody, Delay, Drop, Reply, ScriptedServer, Status, free_port

SCHEMA = {"type": "object", "properties": {"answer": {"type": "boolean"}, "why": {"type": "string"}},
          "required": ["answer"]}
MSGS = [{"role": "system", "content": "judge"}, {"role": "user", "content": "is it?"}]


def SCRIPTED_HANDLER(body):
    return json.dumps({"answer": True, "why": "default"})


def client(url, **kw) -> LLMClient:
    cfg = {"base_url": url, "model": "m", "timeout": 2.0, "retries": 2, "backoff_base": 0.01,
           "backoff_max": 0.05, **kw}
    return LLMClient(cfg, role=kw.pop("role", "judge"))


async def test_plain_chat_and_usage(scripted_server):
    c = client(scripted_server.url, price={"input_per_mtok": 1e6, "output_per_mtok": 2e6})
    meter = UsageMeter()
    with track_usage(meter):
        r = await c.chat(MSGS)
    assert json.loads(r.text)["answer"] is True
    u = meter.to_dict()["judge"]
    assert u["calls"] == 1 and u["prompt_tokens"] > 0 and u["completion_tokens"] > 0
    assert u["cost"] == pytest.approx(u["prompt_tokens"] * 1 + u["completion_tokens"] * 2)
    assert scripted_server.requests[0]["temperature"] == 0.0 and scripted_server.requests[0]["model"] == "m"


async def test_latency_beyond_timeout_then_success(scripted_server):
    scripted_server.push(Delay(1.5))
    c = client(scripted_server.url, timeout=0.5)
    meter = UsageMeter()
    r = await c.chat_json(MSGS, SCHEMA, meter=meter)
    assert r.data["answer"] is True and r.attempts == 2
    assert meter.roles["judge"].retries == 1


async def test_latency_always_beyond_timeout_is_flagged(scripted_server):
    scripted_server.push(Delay(1.0), Delay(1.0))
    c = client(scripted_server.url, timeout=0.3, retries=1)
    meter = UsageMeter()
    with pytest.raises(LLMError) as ei:
        await c.chat(MSGS, meter=meter)
    assert ei.value.kind == "timeout" and ei.value.attempts == 2
    assert meter.roles["judge"].failures == 1


async def test_429_honours_retry_after(scripted_server):
    scripted_server.push(Status(429, headers={"Retry-After": "1"}))
    c = client(scripted_server.url)
    t0 = time.monotonic()
    r = await c.chat_json(MSGS, SCHEMA)
    assert r.data["answer"] is True
    assert len(scripted_server.requests) == 2
    assert scripted_server.request_times[1] - scripted_server.request_times[0] >= 0.9
    assert time.monotonic() - t0 >= 0.9


async def test_500_retried_then_success(scripted_server):
    scripted_server.push(Status(500), Status(503))
    r = await client(scripted_server.url).chat(MSGS)
    assert r.attempts == 3 and json.loads(r.text)["answer"]


async def test_500_persistent_is_flagged(scripted_server):
    scripted_server.push(Status(500), Status(500), Status(500))
    with pytest.raises(LLMError) as ei:
        await client(scripted_server.url).chat(MSGS)
    assert ei.value.kind == "server_error" and ei.value.attempts == 3


async def test_400_is_not_retried(scripted_server):
    scripted_server.push(Status(401))
    with pytest.raises(LLMError) as ei:
        await client(scripted_server.url, structured_output="none").chat_json(MSGS, SCHEMA)
    assert ei.value.kind == "bad_request" and len(scripted_server.requests) == 1


async def test_dropped_connection_and_bad_body_are_retried(scripted_server):
    scripted_server.push(Drop(), BadBody())
    r = await client(scripted_server.url).chat(MSGS)
    assert r.attempts == 3 and json.loads(r.text)["answer"]


async def test_truncated_json_is_reasked(scripted_server):
    scripted_server.push(Reply('{"answer": tru', finish_reason="length"))
    meter = UsageMeter()
    r = await client(scripted_server.url).chat_json(MSGS, SCHEMA, meter=meter)
    assert r.data == {"answer": True, "why": "default"} and r.reasks == 1
    reask = scripted_server.requests[1]["messages"][-1]["content"]
    assert "truncated" in reask and "token limit" in reask
    assert meter.roles["judge"].reasks == 1


async def test_schema_violation_is_reasked_then_flagged(scripted_server):
    bad = json.dumps({"answer": "yes"})
    scripted_server.push(bad, bad, bad)
    meter = UsageMeter()
    with pytest.raises(LLMError) as ei:
        await client(scripted_server.url, reask=2).chat_json(MSGS, SCHEMA, meter=meter)
    assert ei.value.kind == "invalid_output" and "answer" in ei.value.message
    assert len(scripted_server.requests) == 3 and meter.roles["judge"].failures == 1
    assert "not of type 'boolean'" in scripted_server.requests[1]["messages"][-1]["content"]


async def test_json_in_prose_and_fences_is_extracted(scripted_server):
    scripted_server.push("Sure! ```json\n{\"answer\": false}\n``` hope that helps")
    r = await client(scripted_server.url).chat_json(MSGS, SCHEMA)
    assert r.data == {"answer": False} and r.reasks == 0


async def test_response_format_sent_and_fallback_when_rejected(scripted_server):
    c = client(scripted_server.url)
    await c.chat_json(MSGS, SCHEMA)
    rf = scripted_server.requests[0]["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"] == SCHEMA
    scripted_server.reset()
    c2 = client(scripted_server.url)
    scripted_server.push(Status(400, body={"error": {"message": "response_format not supported"}}))
    r = await c2.chat_json(MSGS, SCHEMA)
    assert r.data["answer"] is True
    assert "response_format" in scripted_server.requests[0] and "response_format" not in scripted_server.requests[1]
    await c2.chat_json(MSGS, SCHEMA)  # remembered per endpoint
    assert "response_format" not in scripted_server.requests[2]
    scripted_server.reset()  # also in explicit json_schema mode: better prompt-only JSON than a failed role
    scripted_server.push(Status(422))
    r = await client(scripted_server.url, structured_output="json_schema").chat_json(MSGS, SCHEMA)
    assert r.data["answer"] is True and "response_format" not in scripted_server.requests[1]


async def test_connection_refused_is_flagged():
    c = client(f"http://127.0.0.1:{free_port()}/v1", retries=1)
    with pytest.raises(LLMError) as ei:
        await c.chat(MSGS)
    assert ei.value.kind == "connection" and ei.value.attempts == 2


async def test_dead_endpoint_fails_over_and_balancing(scripted_server):
    with ScriptedServer(handler=lambda b: Delay(0.2, json.dumps({"answer": False}))) as other:
        dead = f"http://127.0.0.1:{free_port()}/v1"
        c = LLMClient({"model": "m", "endpoints": [{"base_url": dead}, {"base_url": scripted_server.url}],
                       "timeout": 2, "retries": 3, "backoff_base": 0.01, "backoff_max": 0.02}, role="judge")
        r = await c.chat(MSGS)
        assert json.loads(r.text)["answer"] is True
        # balancing: concurrent slow requests spread over both live endpoints
        scripted_server.handler_backup = scripted_server.handler
        c2 = LLMClient({"model": "m", "endpoints": [{"base_url": scripted_server.url}, {"base_url": other.url}],
                        "timeout": 5}, role="judge")
        scripted_server.push(*[Delay(0.2)] * 6)
        await asyncio.gather(*(c2.chat(MSGS) for _ in range(6)))
        assert len(other.requests) >= 2 and len(scripted_server.requests) >= 1 + 2


async def test_max_concurrency(scripted_server):
    c = client(scripted_server.url, max_concurrency=2)
    scripted_server.push(*[Delay(0.2)] * 6)
    t0 = time.monotonic()
    await asyncio.gather(*(c.chat(MSGS, sample=i) for i in range(6)))
    assert time.monotonic() - t0 >= 0.55  # 6 requests of 0.2 s, 2 at a time
    ts = sorted(scripted_server.request_times[-6:])
    assert ts[2] - ts[0] >= 0.15  # the third request waited for a slot


async def test_cache_hits_skip_the_server(scripted_server, tmp_path):
    c = client(scripted_server.url, cache_path=str(tmp_path / "cache.sqlite"))
    meter = UsageMeter()
    r1 = await c.chat_json(MSGS, SCHEMA, meter=meter)
    r2 = await c.chat_json(MSGS, SCHEMA, meter=meter)
    r3 = await c.chat_json(MSGS, SCHEMA, sample=1, meter=meter)  # another vote sample: not the same key
    assert not r1.cached and r2.cached and not r3.cached and r2.data == r1.data
    assert len(scripted_server.requests) == 2
    assert meter.roles["judge"].cache_hits == 1 and meter.roles["judge"].calls == 2


def test_config_key_env(monkeypatch):
    monkeypatch.delenv("CM2_TEST_KEY", raising=False)
    with pytest.raises(LLMConfigError):
        LLMClient({"base_url": "http://x/v1", "model": "m", "api_key_env": "CM2_TEST_KEY"})
    monkeypatch.setenv("CM2_TEST_KEY", "sk-secret")
    c = LLMClient({"base_url": "http://x/v1", "model": "m", "api_key_env": "CM2_TEST_KEY"})
    assert "sk-secret" not in repr(c.config) and "sk-secret" not in c.config.model_dump_json()
    with pytest.raises(Exception):
        LLMConfig(model="m")  # neither base_url nor key
