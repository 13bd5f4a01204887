"""Front-line tool-call validation: unknown tool, malformed call, schema violations → structured errors."""

from __future__ import annotations

import json

import pytest

from cm2_env.tools.validation import ToolSet, error_result
from cm2_env.types import ToolCall

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "book_flight",
            "parameters": {
                "type": "object",
                "properties": {
                    "origin": {"type": "string", "minLength": 3},
                    "passengers": {"type": "integer", "minimum": 1},
                    "cabin": {"type": "string", "enum": ["economy", "business"]},
                    "options": {
                        "type": "object",
                        "properties": {"meal": {"type": "string"}},
                        "additionalProperties": False,
                    },
                },
                "required": ["origin", "passengers"],
                "additionalProperties": False,
            },
        },
    },
    {"type": "function", "function": {"name": "ping"}},  # no parameters at all
]


@pytest.fixture(scope="module")
def ts() -> ToolSet:
    return ToolSet(TOOLS)


def check(ts, name, args):
    r = ts.check(ToolCall("c1", name, args, json.dumps(args) if args is not None else ""))
    return r, (json.loads(r.content) if r is not None else None)


def test_valid_calls_pass(ts):
    assert check(ts, "book_flight", {"origin": "CDG", "passengers": 2})[0] is None
    assert check(ts, "book_flight", {"origin": "CDG", "passengers": 2, "cabin": "business",
                                     "options": {"meal": "veg"}})[0] is None
    assert check(ts, "ping", {})[0] is None
    assert ts.names == ["book_flight", "ping"]


def test_unknown_tool_is_structured_error(ts):
    r, body = check(ts, "book_hotel", {"x": 1})
    assert r.error == "unknown_tool" and r.source == "validation"
    assert body["error"] == "unknown_tool"
    assert body["tool"] == "book_hotel"
    assert "book_hotel" in body["message"]
    assert set(body["available"]) == {"book_flight", "ping"}


@pytest.mark.parametrize(
    "args, field",
    [
        ({"passengers": 2}, "origin"),  # missing required
        ({"origin": "CDG", "passengers": "two"}, "passengers"),  # wrong type
        ({"origin": "CDG", "passengers": 0}, "passengers"),  # below minimum
        ({"origin": "CD", "passengers": 1}, "origin"),  # too short
        ({"origin": "CDG", "passengers": 1, "cabin": "first"}, "cabin"),  # not in enum
        ({"origin": "CDG", "passengers": 1, "seat": "1A"}, "seat"),  # unexpected argument
        ({"origin": "CDG", "passengers": 1, "options": {"meal": 3}}, "options.meal"),  # nested wrong type
        ({"origin": "CDG", "passengers": 1, "options": {"drink": "x"}}, "options.drink"),  # nested extra
    ],
)
def test_schema_violation_names_the_bad_field(ts, args, field):
    r, body = check(ts, "book_flight", args)
    assert r is not None and r.error == "invalid_arguments"
    assert body["error"] == "invalid_arguments" and body["tool"] == "book_flight"
    fields = [d["field"] for d in body["details"]]
    assert field in fields, body
    assert field in body["message"]
    assert all(d["message"] for d in body["details"])


def test_several_violations_all_listed(ts):
    r, body = check(ts, "book_flight", {"passengers": "x", "seat": 1})
    fields = {d["field"] for d in body["details"]}
    assert {"origin", "passengers", "seat"} <= fields


def test_malformed_call_is_reported_before_lookup(ts):
    r = ts.check(ToolCall("c1", "book_flight", None, "{oops", "malformed tool call JSON: x"))
    body = json.loads(r.content)
    assert r.error == "malformed_tool_call" and body["error"] == "malformed_tool_call"
    assert body["tool"] == "book_flight" and "malformed" in body["message"]
    r = ts.check(ToolCall("c2", "", None, "garbage", "no name"))
    assert r.error == "malformed_tool_call" and json.loads(r.content)["tool"] is None


def test_error_result_shape():
    r = error_result("x_code", "msg", extra=[1])
    assert r.error == "x_code" and r.source == "validation"
    assert json.loads(r.content) == {"error": "x_code", "message": "msg", "extra": [1]}


def test_each_missing_required_field_is_named(ts):
    r, body = check(ts, "book_flight", {})
    fields = [d["field"] for d in body["details"]]
    assert sorted(fields) == ["origin", "passengers"]
    assert "origin" in body["message"] and "passengers" in body["message"]


def test_each_unexpected_field_is_named(ts):
    r, body = check(ts, "book_flight", {"origin": "CDG", "passengers": 1, "seat": "1A", "row": 2})
    fields = {d["field"] for d in body["details"]}
    assert {"seat", "row"} <= fields


def test_nested_missing_required_field_keeps_its_parent_path():
    ts = ToolSet([{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object",
        "properties": {"addr": {"type": "object", "properties": {"zip": {"type": "string"}}, "required": ["zip"]}},
    }}}])
    r, body = check(ts, "f", {"addr": {}})
    assert [d["field"] for d in body["details"]] == ["addr.zip"]
