"""A 200 reply of the wrong shape (not a chat completion) is an LLMError('malformed_response'): retried like a
5xx within the retry budget, counted in usage, never an exception of another type. Unusable ``usage`` with a
good message keeps the message, counts 0 tokens and is flagged. All over HTTP against the scripted server."""

from __future__ import annotations

import json

import pytest

from cm2_env.llm import LLMClient, LLMError, UsageMeter
from cm2_test_servers.scripted import BadBody, Raw

SCHEMA = {"type": "object", "properties": {"answer": {"type": "boolean"}}, "required": ["answer"]}
MSGS = [{"role": "system", "content": "judge"}, {"role": "user", "content": "is it?"}]
GOOD = json.dumps({"answer": True})


def SCRIPTED_HANDLER(body):
    return GOOD


def client(url, **kw) -> LLMClient:
    cfg = {"base_url": url, "model": "m", "timeout": 2.0, "retries": 2, "backoff_base": 0.01, "backoff_max": 0.02,
           **kw}
    return LLMClient(cfg, role="judge")


def completion(message=None, usage=None, **choice):
    body = {"id": "x", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": GOOD} if message is None else message,
                         "finish_reason": "stop", **choice}]}
    if usage is not None:
        body["usage"] = usage
    return body


MALFORMED = {
    "choices_of_str": {"choices": ["oops"]},
    "choices_empty": {"choices": []},
    "no_choices": {"id": "x", "object": "chat.completion"},
    "choices_not_list": {"choices": {"0": {"message": {"content": GOOD}}}},
    "choice_without_message": {"choices": [{"index": 0, "text": GOOD}]},
    "message_str": completion(message="hello"),
    "content_number": completion(message={"role": "assistant", "content": 42}),
    "content_list": completion(message={"role": "assistant", "content": [{"type": "text", "text": GOOD}]}),
    "tool_calls_str": completion(message={"role": "assistant", "content": None, "tool_calls": "get_weather"}),
    "error_in_200": {"error": {"message": "model overloaded", "type": "server_error"}},
    "body_list": ["not", "a", "completion"],
    "body_str": "just a string",
    "body_null": None,
    "body_number": 7,
}


@pytest.mark.parametrize("shape", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_malformed_once_is_retried_and_counted(scripted_server, shape):
    scripted_server.push(Raw(shape))
    meter = UsageMeter()
    r = await client(scripted_server.url).chat(MSGS, meter=meter)
    assert r.text == GOOD and r.attempts == 2 and len(scripted_server.requests) == 2
    u = meter.roles["judge"]
    assert u.calls == 1 and u.retries == 1 and u.malformed == 1 and u.failures == 0


@pytest.mark.parametrize("shape", [MALFORMED["choices_of_str"], MALFORMED["message_str"], MALFORMED["body_list"],
                                   MALFORMED["choices_empty"]], ids=["choices_of_str", "message_str", "body_list",
                                                                     "choices_empty"])
async def test_malformed_persistent_is_a_bounded_llm_error(scripted_server, shape):
    scripted_server.handler = lambda body: Raw(shape)
    meter = UsageMeter()
    with pytest.raises(LLMError) as ei:
        await client(scripted_server.url, retries=2).chat_json(MSGS, SCHEMA, meter=meter)
    assert ei.value.kind == "malformed_response" and ei.value.attempts == 3
    assert len(scripted_server.requests) == 3  # bounded: retries + 1, no re-ask of a reply that never came
    u = meter.roles["judge"]
    assert u.failures == 1 and u.malformed == 3 and u.retries == 2 and u.calls == 0 and u.prompt_tokens == 0


async def test_non_json_body_is_malformed_response(scripted_server):
    scripted_server.handler = lambda body: BadBody()
    with pytest.raises(LLMError) as ei:
        await client(scripted_server.url, retries=1).chat(MSGS)
    assert ei.value.kind == "malformed_response" and ei.value.attempts == 2


BAD_USAGE = {
    "prompt_str": {"prompt_tokens": "lots", "completion_tokens": 3},
    "prompt_negative": {"prompt_tokens": -5, "completion_tokens": 3},
    "completion_fraction": {"prompt_tokens": 5, "completion_tokens": 1.5},
    "completion_bool": {"prompt_tokens": 5, "completion_tokens": True},
    "cached_negative": {"prompt_tokens": 5, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": -1}},
    "cached_beyond_prompt": {"prompt_tokens": 5, "completion_tokens": 3,
                             "prompt_tokens_details": {"cached_tokens": 9}},
    "details_str": {"prompt_tokens": 5, "completion_tokens": 3, "prompt_tokens_details": "none"},
    "usage_str": "big",
    "usage_list": [5, 3],
}


@pytest.mark.parametrize("usage", list(BAD_USAGE.values()), ids=list(BAD_USAGE))
async def test_malformed_usage_keeps_the_message_counts_zero_and_flags(scripted_server, usage):
    scripted_server.push(Raw(completion(usage=usage)))
    meter = UsageMeter()
    c = client(scripted_server.url, price={"input_per_mtok": 1e6, "output_per_mtok": 1e6})
    r = await c.chat_json(MSGS, SCHEMA, meter=meter)
    assert r.data == {"answer": True} and r.attempts == 1 and len(scripted_server.requests) == 1
    assert r.prompt_tokens == 0 and r.completion_tokens == 0 and r.usage_error
    u = meter.roles["judge"]
    assert u.calls == 1 and u.malformed_usage == 1 and u.retries == 0 and u.failures == 0
    assert u.prompt_tokens == 0 and u.completion_tokens == 0 and u.cost == 0


async def test_good_shapes_are_not_flagged(scripted_server):
    meter = UsageMeter()
    c = client(scripted_server.url)
    calls = [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    scripted_server.push(
        Raw(completion(usage={"prompt_tokens": 7, "completion_tokens": 2})),
        Raw(completion()),  # no usage block at all: nothing to count, nothing malformed
        Raw(completion(message={"role": "assistant", "content": None, "tool_calls": calls})),
        Raw(completion(message={"role": "assistant", "content": None}, finish_reason="length")),
    )
    r1, r2, r3, r4 = [await c.chat(MSGS, sample=i, meter=meter) for i in range(4)]
    assert (r1.prompt_tokens, r1.completion_tokens, r1.usage_error) == (7, 2, None)
    assert r2.prompt_tokens == 0 and r2.usage_error is None
    assert r3.text == "" and r3.meta["tool_calls"] == calls
    assert r4.text == "" and r4.finish_reason == "length"
    u = meter.roles["judge"]
    assert u.calls == 4 and u.malformed == 0 and u.malformed_usage == 0 and u.retries == 0
