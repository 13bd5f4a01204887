"""`cm2 data label` against the scripted server: valid, invalid (re-asked, then rejected with the validator's
reasons), schema-violating and evidence-less labeller outputs; variants; cost; the CM2 authors' sample."""

from __future__ import annotations

import copy
import json
import re

import pytest

from cm2_env.data.label import LABEL_SCHEMA, build_messages
from cm2_env.data.label_validate import validate_checklists, validate_record
from cm2_env.data.stage import get_stage
from cm2_env.tasks.cm2_format import from_cm2
from cm2_test_servers.roles import label_answer, role_router
from cm2_test_servers.scripted import Status

SCRIPTED_HANDLER = role_router
PRICE = {"input_per_mtok": 2.0, "output_per_mtok": 8.0}


def rec(i: int, turns: int = 2) -> dict:
    msgs = [{"role": "system", "content": "You are a weather assistant."}]
    for t in range(turns):
        args = {"city": f"City{i}", "days": t + 1}
        msgs += [
            {"role": "user", "content": f"Weather in City{i} for {t + 1} days?"},
            {"role": "assistant", "content": "<think>\nThe user wants a forecast. Call get_weather.\n</think>",
             "tool_calls": [{"id": f"c{t}", "type": "function",
                             "function": {"name": "get_weather", "arguments": json.dumps(args)}}]},
            {"role": "tool", "tool_call_id": f"c{t}", "content": json.dumps({"temp_c": 10 + i, "sky": "clear"})},
            {"role": "assistant", "content": f"<think>\nReport it.\n</think>\n\nIt will be {10 + i} C and clear."},
        ]
    return {"id": f"r{i}", "messages": msgs, "source": {"format": "test"}, "meta": {},
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Forecast.",
                                                         "parameters": {"type": "object", "properties": {
                                                             "city": {"type": "string"}, "days": {"type": "integer"}},
                                                             "required": ["city"]}}}]}


def rid_of(body: dict) -> str:
    for m in body["messages"]:
        found = re.search(r"Weather in City(\d+)", m.get("content") or "")
        if found:
            return f"r{found.group(1)}"
    return "?"


def opts(srv, **kw):
    return {"llm": {"base_url": srv.url, "model": "scripted", "retries": 0, "price": PRICE}, "progress": False, **kw}


def run(data, tmp_path, srv, records, fresh=True, **kw):
    inp = data.write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out.jsonl"
    report = get_stage("label")(inp, out, opts(srv, **kw), resume=not fresh)
    rejected = data.read_jsonl(tmp_path / "out.rejected.jsonl") if (tmp_path / "out.rejected.jsonl").exists() else []
    return report, data.read_jsonl(out), rejected


def mutate(body: dict, fn) -> str:
    answer = json.loads(label_answer(body))
    fn(answer)
    return json.dumps(answer)


def test_valid_output_is_kept_loads_as_a_task_and_costs_are_reported(data, tmp_path, scripted_server):
    report, kept, rejected = run(data, tmp_path, scripted_server, [rec(0), rec(1, turns=1)])
    assert (report["kept"], report["rejected"]) == (2, 0)
    assert len(scripted_server.requests) == 2
    for r in kept:
        assert len(r["checklists"]) == 1 and validate_record(r) == {}
        assert len(r["checklists"][0]) == sum(m["role"] == "user" for m in r["messages"])
        task = from_cm2(r)
        assert task.turns[0].checklist[0].evidence
        u = r["meta"]["usage"]["label"]
        expect = (u["prompt_tokens"] * PRICE["input_per_mtok"] + u["completion_tokens"] * PRICE["output_per_mtok"]) / 1e6
        assert u["calls"] == 1 and u["cost_usd"] == pytest.approx(expect, rel=1e-6)
        assert r["meta"]["label"]["asks"] == [1]
    assert report["cost_usd"] == pytest.approx(sum(r["meta"]["usage"]["label"]["cost_usd"] for r in kept))
    assert report["usage"]["calls"] == 2 and report["cost_usd_per_record"] > 0
    assert report["llm"]["model"] == "scripted" and "api_key" not in json.dumps(report["llm"]).replace("api_key_env", "")
    # the request asked for structured output with the labeller's schema
    assert scripted_server.requests[0]["response_format"]["json_schema"]["schema"] == LABEL_SCHEMA


def test_invalid_output_is_reasked_with_the_errors_and_then_fixed(data, tmp_path, scripted_server):
    def handler(body):
        if len(body["messages"]) == 2:  # the first ask: weights that do not sum to 1
            return mutate(body, lambda a: a["turns"][0]["checklist"][0].update(weight=0.9))
        return label_answer(body)

    scripted_server.handler = handler
    report, kept, _ = run(data, tmp_path, scripted_server, [rec(0)])
    assert report["kept"] == 1 and kept[0]["meta"]["label"]["asks"] == [2]
    assert len(scripted_server.requests) == 2
    reask = scripted_server.requests[1]["messages"][-1]["content"]
    assert "weights: turn 0" in reask and "sum to" in reask
    assert report["counters"]["reasked_variants"] == 1


@pytest.mark.parametrize("case, breaks, reason", [
    ("weights", lambda a: a["turns"][1]["checklist"][0].update(weight=0.0), "weights"),
    ("evidence-less", lambda a: a["turns"][0]["checklist"][1].update(evidence=[]), "evidence_missing"),
    ("snippet not in the message", lambda a: a["turns"][0]["checklist"][0]["evidence"][0].update(
        snippet="a call nobody made"), "evidence_not_found"),
    ("snippet in another part", lambda a: a["turns"][0]["checklist"][0]["evidence"][0].update(
        **{"from": "assistant.content.user_visible_reply"}), "evidence_not_found"),
    ("pointer at a tool message", lambda a: a["turns"][0]["checklist"][0]["evidence"][0].update(step=2),
     "evidence_pointer"),
    ("unknown dependence", lambda a: a["turns"][0]["checklist"][0].update(dependence=["C9"]), "dependence"),
    ("dependence on a non-tool item", lambda a: a["turns"][0]["checklist"][1].update(dependence=["C0"]),
     "dependence"),
    ("one turn missing", lambda a: a["turns"].pop(), "turn_count"),
])
def test_output_that_never_validates_is_rejected_with_reasons_after_bounded_reasks(
        data, tmp_path, scripted_server, case, breaks, reason):
    scripted_server.handler = lambda body: mutate(body, breaks)
    report, kept, rejected = run(data, tmp_path, scripted_server, [rec(0)], max_reasks=2)
    assert kept == [] and report["rejected"] == 1
    assert len(scripted_server.requests) == 3  # 1 ask + 2 re-asks, then give up
    assert reason in report["reasons"], report["reasons"]
    assert any(r.startswith(f"{reason}: variant 0 (after 3 asks)") for r in rejected[0]["reasons"])
    assert rejected[0]["record"]["meta"]["usage"]["label"]["calls"] == 3


@pytest.mark.parametrize("answer", [
    "I cannot produce a checklist.",                                              # not JSON
    json.dumps({"turns": [{"turn": 0, "checklist": [{"id": "C0"}]}]}),            # required fields missing
    json.dumps({"turns": [{"turn": 0, "checklist": []}, {"turn": 1, "checklist": []}], "extra": 1}),
])
def test_schema_violating_output_is_reasked_then_rejected(data, tmp_path, scripted_server, answer):
    scripted_server.handler = lambda body: answer
    report, kept, rejected = run(data, tmp_path, scripted_server, [rec(0)], max_reasks=1)
    assert kept == [] and len(scripted_server.requests) == 2
    assert report["reasons"] == {"schema": 1}
    assert "Your checklist JSON failed validation (re-ask 1 of 1)" in scripted_server.requests[1]["messages"][-1]["content"]


def test_enum_violation_is_a_schema_error(data, tmp_path, scripted_server):
    scripted_server.handler = lambda body: mutate(body, lambda a: a["turns"][0]["checklist"][0].update(
        focus_on="assistant.magic"))
    report, _, rejected = run(data, tmp_path, scripted_server, [rec(0)], max_reasks=0)
    assert report["reasons"] == {"schema": 1} and "focus_on" in rejected[0]["reasons"][0]


def test_variants_are_distinct_samples(data, tmp_path, scripted_server):
    report, kept, _ = run(data, tmp_path, scripted_server, [rec(0)], variants=3)
    assert len(kept[0]["checklists"]) == 3 and validate_record(kept[0]) == {}
    assert len(scripted_server.requests) == 3  # not served from the cache: each variant is its own sample
    task = from_cm2(kept[0])
    assert len(task.checklist_variants) == 3


def test_min_variants_keeps_a_record_with_some_valid_variants(data, tmp_path, scripted_server):
    calls = {"n": 0}

    def handler(body):
        calls["n"] += 1
        return mutate(body, lambda a: a["turns"].pop()) if calls["n"] == 1 else label_answer(body)

    scripted_server.handler = handler
    report, kept, _ = run(data, tmp_path, scripted_server, [rec(0)], variants=2, min_variants=1, max_reasks=0)
    assert report["kept"] == 1 and len(kept[0]["checklists"]) == 1 and "failed" in kept[0]["meta"]["label"]


def test_server_faults_reject_the_record_with_the_reason(data, tmp_path, scripted_server):
    def handler(body):
        r = rid_of(body)
        if r == "r1":
            return Status(500)
        if r == "r2":
            return Status(400, body={"error": {"message": "context too long"}})
        return label_answer(body)

    scripted_server.handler = handler
    report, kept, rejected = run(data, tmp_path, scripted_server, [rec(0), rec(1), rec(2)])
    assert [r["id"] for r in kept] == ["r0"]
    assert report["reasons"] == {"llm_bad_request": 1, "llm_server_error": 1}
    assert {r["id"] for r in rejected} == {"r1", "r2"}


def test_the_prompt_numbers_turns_and_steps_and_leaves_the_system_prompt_out(data):
    msgs = build_messages(rec(0))
    conv = json.loads(msgs[1]["content"].split("## Conversation to label", 1)[1].split("\n", 1)[1])
    assert [(e["turn"], e["step"], e["role"]) for e in conv[:4]] == [
        (0, 0, "user"), (0, 1, "assistant"), (0, 2, "tool"), (0, 3, "assistant")]
    assert conv[1]["tool_calls"][0]["arguments"] == {"city": "City0", "days": 1}
    assert conv[3]["thinking"] == "Report it." and conv[3]["reply"] == "It will be 10 C and clear."
    assert "You are a weather assistant." in msgs[1]["content"]


# ----------------------------------------------------------------------------- the CM2 authors' sample


def test_the_authors_labelled_sample_passes_the_validator(cm2_fixture):
    records = json.loads(cm2_fixture.read_text())
    for r in records:
        assert validate_record(r) == {}


def test_the_validator_catches_each_rule_on_the_authors_sample(cm2_fixture):
    r = json.loads(cm2_fixture.read_text())[0]
    msgs, base = r["messages"], r["checklists"][0]

    def errors(fn):
        cl = copy.deepcopy(base)
        fn(cl)
        return validate_checklists(cl, msgs)

    assert errors(lambda c: None) == []
    assert errors(lambda c: c[0][0]["evidence"][0].update(snippet="Washington Huskies won"))[0].startswith(
        "evidence_not_found")
    assert errors(lambda c: c[0][0].update(weight=0.5))[0].startswith("weights")
    assert errors(lambda c: c[0][2].update(dependence=["C0"]))[0].startswith("dependence")
    assert errors(lambda c: c[0][1].update(focus_on="tool.output"))[0].startswith("enum")
    assert errors(lambda c: c.pop())[0].startswith("turn_count")
    assert errors(lambda c: c[1][0]["evidence"][0].update(turn=2))[0].startswith("evidence_pointer")
    # white space and JSON escapes may differ from the message; the words may not
    assert errors(lambda c: c[0][0]["evidence"][0].update(
        snippet='"teamid":   "Washington Huskies"')) == []
