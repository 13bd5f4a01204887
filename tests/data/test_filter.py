"""The rule filter: each of the nine rules rejects what it must and keeps a near miss; reports and bad input."""

from __future__ import annotations

import copy
import json

import pytest

from cm2_env.data.filter import Options, STAGE, check_record
from cm2_env.data.rules import RULES

ALL_ON = Options(duplicate_tools_by_schema=True)


def reasons_of(record, options=ALL_ON):
    return {r.split(":", 1)[0] for r in check_record(record, options)}


def test_good_record_passes_every_rule(data):
    assert check_record(data.good_record(turns=2, calls=2), ALL_ON) == []


# --- one (reject, near miss) pair per rule; the reject breaks only its own rule -----------------------------

def _set_args(rec, args):
    rec["messages"][1]["tool_calls"][0]["function"]["arguments"] = json.dumps(args)
    return rec


def case_tool_schema(rec):
    return _set_args(copy.deepcopy(rec), {"city": "Paris", "days": "two"}), _set_args(copy.deepcopy(rec), {"city": "Paris", "days": 2})


def case_role_order(rec):
    bad = copy.deepcopy(rec)
    bad["messages"].insert(0, {"role": "user", "content": "Hello."})  # user, user
    ok = copy.deepcopy(rec)
    ok["messages"][:0] = [{"role": "user", "content": "Hello."}, {"role": "assistant", "content": "<think>\nhi\n</think>\n\nHi!"}]
    return bad, ok


def case_tool_call_response_match(rec):
    two = {"role": "assistant", "content": "<think>\nx\n</think>\n\n",
           "tool_calls": [{"id": "a", "type": "function", "function": {"name": "get_time", "arguments": '{"city": "Oslo"}'}},
                          {"id": "b", "type": "function", "function": {"name": "get_time", "arguments": '{"city": "Rome"}'}}]}
    bad = copy.deepcopy(rec)
    bad["messages"][1:3] = [two, {"role": "tool", "tool_call_id": "a", "content": '{"t": "10:00"}'}]
    ok = copy.deepcopy(rec)
    ok["messages"][1:3] = [two, {"role": "tool", "tool_call_id": "a", "content": '{"t": "10:00"}'},
                           {"role": "tool", "tool_call_id": "b", "content": '{"t": "11:00"}'}]
    return bad, ok


def case_no_tool_response_in_assistant_message(rec):
    bad, ok = copy.deepcopy(rec), copy.deepcopy(rec)
    bad["messages"][-1]["content"] += "\n</tool_response>"
    ok["messages"][-1]["content"] += " (from the tool_response of get_weather)"
    return bad, ok


def case_tool_response_json_valid(rec):
    bad, ok = copy.deepcopy(rec), copy.deepcopy(rec)
    bad["messages"][2]["content"] = "sunny, 18 C"
    ok["messages"][2]["content"] = '"sunny, 18 C"'
    return bad, ok


def case_duplicate_tools_by_schema(rec):
    bad, ok = copy.deepcopy(rec), copy.deepcopy(rec)
    dup = copy.deepcopy(rec["tools"][1])
    dup["function"]["description"] = "Another description, same schema."
    bad["tools"].append(dup)
    other = copy.deepcopy(rec["tools"][1])
    other["function"]["parameters"]["properties"]["tz"] = {"type": "string"}
    ok["tools"].append(other)
    return bad, ok


def case_duplicate_tools_by_name(rec):
    bad, ok = copy.deepcopy(rec), copy.deepcopy(rec)
    other = copy.deepcopy(rec["tools"][1])
    other["function"]["parameters"]["properties"]["tz"] = {"type": "string"}
    bad["tools"].append(other)
    renamed = copy.deepcopy(other)
    renamed["function"]["name"] = "get_time_v2"
    ok["tools"].append(renamed)
    return bad, ok


def case_non_empty_content(rec):
    bad, ok = copy.deepcopy(rec), copy.deepcopy(rec)
    bad["messages"][0]["content"] = "  \n "
    ok["messages"][0]["content"] = " ? "
    return bad, ok


def case_think_tags(rec):
    bad, ok = copy.deepcopy(rec), copy.deepcopy(rec)
    bad["messages"][-1]["content"] = "It is 18 C and clear in Paris."
    ok["messages"][-1]["content"] = "<think>\nI think it is clear.\n</think>\n\nI think it is 18 C."
    return bad, ok


CASES = {name: globals()[f"case_{name}"] for name in RULES}


@pytest.mark.parametrize("rule", RULES)
def test_rule_rejects_and_keeps_a_near_miss(rule, data):
    bad, ok = CASES[rule](data.good_record())
    options = ALL_ON
    if rule == "duplicate_tools_by_schema":  # the by-name rule would catch it too
        options = Options(duplicate_tools_by_schema=True, duplicate_tools_by_name=False)
    assert reasons_of(bad, options) == {rule}
    assert check_record(ok, options) == []
    # switched off, the rule no longer rejects
    assert check_record(bad, options.model_copy(update={rule: False})) == []


@pytest.mark.parametrize("bad_args,reason", [
    ("{not json", "not JSON"),
    (json.dumps(["Paris"]), "not an object"),
    (json.dumps({"days": 2}), "required argument"),
    (json.dumps({"city": "Paris", "country": "FR"}), "not a parameter"),
    (json.dumps({"city": "Paris", "units": "kelvin"}), "units"),
    (json.dumps({"city": "Paris", "days": 0}), "days"),
])
def test_tool_schema_arguments(bad_args, reason, data):
    rec = data.good_record()
    rec["messages"][1]["tool_calls"][0]["function"]["arguments"] = bad_args
    got = check_record(rec, ALL_ON)
    assert len(got) == 1 and got[0].startswith("tool_schema:") and reason in got[0], got


def test_tool_schema_unknown_tool_and_bad_tools(data):
    rec = data.good_record()
    rec["messages"][1]["tool_calls"][0]["function"]["name"] = "get_wether"
    assert "not among the record's tools" in check_record(rec, ALL_ON)[0]
    rec = data.good_record()
    rec["tools"].append({"name": "bare"})
    assert "not an OpenAI function tool" in check_record(rec, ALL_ON)[0]


def test_argument_check_modes(data):
    """names: what the reference actually checked; types: its intent; jsonschema: the full schema."""
    wrong_type = _set_args(data.good_record(), {"city": "Paris", "days": "two"})
    wrong_enum = _set_args(data.good_record(), {"city": "Paris", "units": "kelvin"})
    extra = _set_args(data.good_record(), {"city": "Paris", "x": 1})
    names, types = Options(argument_check="names"), Options(argument_check="types")
    assert check_record(wrong_type, names) == [] and check_record(wrong_enum, names) == []
    assert reasons_of(wrong_type, types) == {"tool_schema"} and check_record(wrong_enum, types) == []
    assert reasons_of(wrong_enum, Options()) == {"tool_schema"}
    assert all(reasons_of(extra, o) == {"tool_schema"} for o in (names, types, Options()))
    assert check_record(extra, Options(allow_extra_arguments=True)) == []


def test_bool_is_not_an_integer(data):
    rec = _set_args(data.good_record(), {"city": "Paris", "days": True})
    assert reasons_of(rec, Options(argument_check="types")) == {"tool_schema"}
    assert reasons_of(rec, Options()) == {"tool_schema"}


def test_overlapping_counts_and_rejected_file(tmp_path, data):
    good = data.good_record("good")
    two = data.good_record("two")
    two["messages"][-1]["content"] = "no think here </tool_response>"  # think_tags + no_tool_response
    think = data.good_record("think")
    think["messages"][-1]["content"] = "no think"
    inp = data.write_jsonl(tmp_path / "in.jsonl", [good, two, think])
    rep = STAGE(inp, tmp_path / "out.jsonl")
    assert (rep["kept"], rep["rejected"], rep["total"]) == (1, 2, 3)
    assert rep["rules"]["think_tags"] == 2 and rep["rules"]["no_tool_response_in_assistant_message"] == 1
    assert rep["rules"]["duplicate_tools_by_schema"] is None  # off by default, as the authors ran it
    assert "duplicate_tools_by_schema" not in rep["enabled_rules"]
    rej = {r["id"]: r for r in data.read_jsonl(tmp_path / "out.rejected.jsonl")}
    assert {x.split(":")[0] for x in rej["two"]["reasons"]} == {"think_tags", "no_tool_response_in_assistant_message"}
    assert rej["two"]["record"]["messages"] == two["messages"]
    assert [r["id"] for r in data.read_jsonl(tmp_path / "out.jsonl")] == ["good"]


WEIRD = [
    {"id": "a", "messages": "not a list", "tools": []},
    {"id": "b", "messages": [1, 2], "tools": []},
    {"id": "c", "messages": [], "tools": "x"},
    {"id": "d", "messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": None,
                                                            "tool_calls": {"x": 1}}], "tools": [None, 3]},
    {"id": "e", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ["x"],
                                                              "tool_calls": [None, {"function": "f"}]},
                             {"role": "tool", "content": {"a": 1}}], "tools": [{"type": "function", "function": {"name": 3}}]},
    {"id": "f", "messages": [{"role": None}], "tools": [{"type": "function", "function": {"name": "t", "parameters": []}}]},
    {"id": "g", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>a</think>",
                              "tool_calls": [{"type": "function", "function": {"name": "t", "arguments": "{\"x\": \"1\"}"}}]},
                             {"role": "tool", "content": "{}"}, {"role": "assistant", "content": "<think>a</think>"}],
     "tools": [{"type": "function", "function": {"name": "t", "parameters": {"type": "object",
                                                                           "properties": {"x": {"type": "strng"}}}}}]},
    {"messages": []},
]


def test_bad_input_is_data_never_a_crash(tmp_path, data):
    inp = data.write_jsonl(tmp_path / "in.jsonl", WEIRD + ["{broken json", "[1, 2]"])
    rep = STAGE(inp, tmp_path / "out.jsonl", {"duplicate_tools_by_schema": True})
    assert rep["kept"] == 0 and rep["rejected"] == len(WEIRD) + 2
    rej = data.read_jsonl(tmp_path / "out.rejected.jsonl")
    assert all(r["reasons"] for r in rej)
    assert any(r["reasons"][0].startswith("unreadable: line 9") for r in rej)
    assert any("no string id" in r["reasons"][0] for r in rej)


def test_resume_does_not_duplicate(tmp_path, data):
    rows = [data.good_record(f"r{i}") for i in range(5)]
    rows[2]["messages"][-1]["content"] = "no think"
    inp = data.write_jsonl(tmp_path / "in.jsonl", rows + ["{bad"])
    first = STAGE(inp, tmp_path / "out.jsonl")
    again = STAGE(inp, tmp_path / "out.jsonl")
    assert (again["kept"], again["rejected"], again["skipped_already_done"]) == (first["kept"], first["rejected"], 6)
    assert again["rules"] == first["rules"]
    assert len(data.read_jsonl(tmp_path / "out.jsonl")) == 4


def test_cm2_sample_filters(tmp_path, cm2_fixture):
    from cm2_env.data.convert import STAGE as CONVERT

    CONVERT(cm2_fixture, tmp_path / "conv.jsonl")
    rep = STAGE(tmp_path / "conv.jsonl", tmp_path / "out.jsonl")
    assert rep["kept"] == 1 and rep["rejected"] == 0
