"""`cm2 data compress-cot`: rewrites checked (same tool calls, same replies) or the original kept and flagged."""

from __future__ import annotations

import json

import pytest

from cm2_env.data.compress_cot import sections
from cm2_env.data.label_validate import thinking_of
from cm2_env.data.stage import get_stage
from cm2_env.parsing import strip_think
from cm2_test_servers.roles import compress_answer, role_router
from cm2_test_servers.scripted import Status

SCRIPTED_HANDLER = role_router
LONG = ("The user wants the weather in Rome. I have a tool get_weather that takes a city. I should call it with "
        "Rome. Let me think again: yes, Rome is the city, so the call is get_weather with city Rome. Okay.")


def rec(i: int = 0) -> dict:
    return {"id": f"r{i}", "source": {"format": "test"}, "meta": {},
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {
                "type": "object", "properties": {"city": {"type": "string"}}}}}],
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Rome?"},
                {"role": "assistant", "content": f"<think>\n{LONG}\n</think>\n\n",
                 "tool_calls": [{"id": "c1", "type": "function",
                                 "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "{\"temp_c\": 25}"},
                {"role": "assistant", "content": f"<think>\nIt is 25 C. {LONG}\n</think>\n\nIt is 25 C in Rome."},
            ]}


def run(data, tmp_path, srv, records, **kw):
    inp = data.write_jsonl(tmp_path / "in.jsonl", records)
    report = get_stage("compress-cot")(inp, tmp_path / "out.jsonl", {
        "llm": {"base_url": srv.url, "model": "scripted", "retries": 0}, "progress": False, **kw})
    return report, data.read_jsonl(tmp_path / "out.jsonl")


def test_thinking_is_shortened_and_calls_and_replies_are_unchanged(data, tmp_path, scripted_server):
    original = rec()
    report, out = run(data, tmp_path, scripted_server, [original])
    new = out[0]
    assert new["meta"]["compress_cot"]["compressed"] is True
    for a, b in zip(original["messages"], new["messages"]):
        assert a.get("tool_calls") == b.get("tool_calls") and a["role"] == b["role"]
        if a["role"] == "assistant":
            assert strip_think(a["content"]) == strip_think(b["content"])
            assert len(thinking_of(b["content"])) < len(thinking_of(a["content"]))
        else:
            assert a == b
    assert report["compressed"] == 1 and report["thinking_chars"]["ratio"] < 0.5
    assert len(scripted_server.requests) == 1


@pytest.mark.parametrize("rewrite, flag", [
    (lambda t: [t[0], t[1] + "</think>\n\nSurprise reply."], "markup"),           # would change the reply
    (lambda t: [t[0], "<tool_call>{\"name\": \"x\"}</tool_call>"], "markup"),
    (lambda t: [t[0], LONG * 3], "longer"),
    (lambda t: [t[0], "   "], "empty_section"),
])
def test_a_rewrite_that_fails_the_check_keeps_the_original_flagged(data, tmp_path, scripted_server, rewrite, flag):
    scripted_server.handler = lambda body: json.dumps({"thinking": rewrite(json.loads(compress_answer(body))["thinking"])})
    original = rec()
    report, out = run(data, tmp_path, scripted_server, [original])
    assert out[0]["messages"] == original["messages"]
    assert out[0]["meta"]["compress_cot"]["compressed"] is False
    assert out[0]["meta"]["compress_cot"]["reason"].startswith(flag)
    assert report["flagged"] == {flag: 1} and report["kept_original"] == 1 and report["rejected"] == 0


def test_wrong_section_count_is_reasked_then_flagged(data, tmp_path, scripted_server):
    scripted_server.handler = lambda body: json.dumps({"thinking": ["only one"]})
    report, out = run(data, tmp_path, scripted_server, [rec()])
    assert out[0]["meta"]["compress_cot"]["reason"].startswith("llm_invalid_output")
    assert len(scripted_server.requests) == 3  # the role's JSON re-asks
    assert out[0]["messages"] == rec()["messages"]


def test_server_fault_keeps_the_original_flagged(data, tmp_path, scripted_server):
    scripted_server.handler = lambda body: Status(500)
    report, out = run(data, tmp_path, scripted_server, [rec()])
    assert out[0]["meta"]["compress_cot"]["reason"].startswith("llm_server_error")
    assert report["kept"] == 1 and report["flagged"] == {"llm_server_error": 1}


def test_records_without_think_blocks_cost_nothing(data, tmp_path, scripted_server):
    r = rec()
    for m in r["messages"]:
        if m["role"] == "assistant":
            m["content"] = strip_think(m["content"])
    assert sections(r) == []
    report, out = run(data, tmp_path, scripted_server, [r])
    assert scripted_server.requests == [] and out[0]["meta"]["compress_cot"]["reason"].startswith("no_thinking")
