"""`cm2 data llm-filter`: the progressive cascade against the scripted server — early exit (requests counted),
effort as the server's reasoning_effort field or as a model per level, faults and bad output rejected."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict

from cm2_env.data.llm_filter import DEFAULT_EFFORTS, VERDICT_SCHEMA
from cm2_env.data.stage import get_stage
from cm2_test_servers.roles import role_router
from cm2_test_servers.scripted import Status

SCRIPTED_HANDLER = role_router


def rec(i: int, flawed: bool = False) -> dict:
    return {"id": f"r{i}", "source": {"format": "test"}, "meta": {"keep": "me"},
            "tools": [{"type": "function", "function": {"name": "convert", "description": "Currency conversion.",
                                                         "parameters": {"type": "object", "properties": {
                                                             "amount": {"type": "number"}}, "required": ["amount"]}}}],
            "messages": [
                {"role": "user", "content": f"Convert {i} dollars." + (" FLAWED" if flawed else "")},
                {"role": "assistant", "content": "<think>\nConvert.\n</think>",
                 "tool_calls": [{"id": "c1", "type": "function",
                                 "function": {"name": "convert", "arguments": json.dumps({"amount": i})}}]},
                {"role": "tool", "tool_call_id": "c1", "content": json.dumps({"eur": i * 0.9})},
                {"role": "assistant", "content": f"<think>\nDone.\n</think>\n\n{i} USD is {i * 0.9} EUR."},
            ]}


def rid_of(body: dict) -> str:
    return "r" + re.search(r"Convert (\d+) dollars", body["messages"][1]["content"]).group(1)


def opts(srv, **kw):
    return {"llm": {"base_url": srv.url, "model": "scripted", "retries": 0}, "progress": False, **kw}


def run(data, tmp_path, srv, records, **kw):
    inp = data.write_jsonl(tmp_path / "in.jsonl", records)
    report = get_stage("llm-filter")(inp, tmp_path / "out.jsonl", opts(srv, **kw))
    rej = tmp_path / "out.rejected.jsonl"
    return report, data.read_jsonl(tmp_path / "out.jsonl"), data.read_jsonl(rej) if rej.exists() else []


def test_cascade_drops_at_the_first_false_and_only_survivors_pay_the_next_pass(data, tmp_path, scripted_server):
    seen: Counter = Counter()
    fail_at = {"r1": 0, "r2": 2, "r3": 7}  # r0 passes all eight

    def handler(body):
        r = rid_of(body)
        k = seen[r]
        seen[r] += 1
        ok = fail_at.get(r) != k
        return json.dumps({"reason": "fine" if ok else f"flaw found in pass {k}", "no_error": ok})

    scripted_server.handler = handler
    report, kept, rejected = run(data, tmp_path, scripted_server, [rec(i) for i in range(4)])
    per = Counter(rid_of(b) for b in scripted_server.requests)
    assert per == {"r0": 8, "r1": 1, "r2": 3, "r3": 8}
    assert [r["id"] for r in kept] == ["r0"]
    assert kept[0]["meta"]["keep"] == "me" and len(kept[0]["meta"]["llm_filter"]["passes"]) == 8
    by_id = {r["id"]: r for r in rejected}
    assert by_id["r2"]["reasons"] == ["llm_rejected: pass 2 (medium): flaw found in pass 2"]
    assert by_id["r2"]["record"]["meta"]["llm_filter"]["dropped_at"] == 2
    cascade = report["cascade"]
    assert [c["judged"] for c in cascade] == [4, 3, 3, 2, 2, 2, 2, 2]
    assert [c["dropped"] for c in cascade] == [1, 0, 1, 0, 0, 0, 0, 1]
    assert report["usage"]["calls"] == 20 and report["reasons"] == {"llm_rejected": 3}


def test_effort_levels_go_as_reasoning_effort_and_passes_are_distinct_samples(data, tmp_path, scripted_server):
    report, kept, _ = run(data, tmp_path, scripted_server, [rec(0)])
    efforts = [b.get("reasoning_effort") for b in scripted_server.requests]
    assert efforts == DEFAULT_EFFORTS  # two low passes both reached the server (not the cache)
    rf = scripted_server.requests[0]["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"] == VERDICT_SCHEMA
    assert "## Conversation under review" in scripted_server.requests[0]["messages"][1]["content"]


def test_a_model_per_level_where_the_server_has_no_effort_field(data, tmp_path, scripted_server):
    run(data, tmp_path, scripted_server, [rec(0)], efforts="low,medium,high", effort_param=None,
        effort_models={"high": "big-model", "medium": "mid-model"})
    got = [(b["model"], "reasoning_effort" in b) for b in scripted_server.requests]
    assert got == [("scripted", False), ("mid-model", False), ("big-model", False)]


def test_the_scripted_router_judges_marked_conversations_flawed(data, tmp_path, scripted_server):
    report, kept, rejected = run(data, tmp_path, scripted_server, [rec(0), rec(1, flawed=True)], efforts=["low"])
    assert [r["id"] for r in kept] == ["r0"] and [r["id"] for r in rejected] == ["r1"]


def test_unusable_verdicts_and_server_faults_reject_with_the_reason(data, tmp_path, scripted_server):
    def handler(body):
        r = rid_of(body)
        if r == "r1":
            return "looks good to me"                  # no JSON at all, after the role's re-asks
        if r == "r2":
            return json.dumps({"no_error": "yes"})     # schema-violating
        if r == "r3":
            return Status(500)
        return json.dumps({"reason": "ok", "no_error": True})

    scripted_server.handler = handler
    report, kept, rejected = run(data, tmp_path, scripted_server, [rec(i) for i in range(4)], efforts=["low"])
    assert [r["id"] for r in kept] == ["r0"]
    assert report["reasons"] == {"llm_invalid_output": 2, "llm_server_error": 1}
    per = defaultdict(int)
    for b in scripted_server.requests:
        per[rid_of(b)] += 1
    assert per["r1"] == 3 and per["r2"] == 3 and per["r3"] == 1  # the role's 2 JSON re-asks; no retry (retries 0)
