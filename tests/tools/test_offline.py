"""The offline tool simulator: canonical replay of the reference, k-th recording, memoised synthetic results."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest

from cm2_env.tasks.models import Task
from cm2_env.tools.canonical import call_key, canonical_args, fill_defaults
from cm2_env.tools.offline import OfflineToolSimulator
from cm2_env.tools.synthetic import result_schema, synthesize
from cm2_env.types import ToolCall

WEATHER_RETURNS = {
    "type": "object",
    "properties": {
        "temp": {"type": "number", "minimum": -50, "maximum": 50},
        "unit": {"type": "string", "enum": ["C", "F"]},
        "hourly": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 10}, "minItems": 3},
        "windy": {"type": "boolean"},
        "station": {"type": "object", "properties": {"id": {"type": "string"}, "alt": {"type": ["integer", "null"]}},
                    "required": ["id", "alt"]},
        "kind": {"const": "forecast"},
        "source": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    },
    "required": ["temp", "unit", "hourly", "windy", "station", "kind", "source"],
}


def tool(name, props=None, required=(), **extra):
    fn = {"name": name, "parameters": {"type": "object", "properties": props or {}, "required": list(required)}}
    fn.update(extra)
    return {"type": "function", "function": fn}


def call(name, args, cid="x"):
    return ToolCall(cid, name, args, json.dumps(args))


def make_task() -> Task:
    tools = [
        tool("search", {"q": {"type": "string"}, "limit": {"type": "integer", "default": 10},
                        "price": {"type": "number"},
                        "filters": {"type": "object", "properties": {"sort": {"type": "string", "default": "asc"}}}},
             ["q"]),
        tool("get_status", {"order": {"type": "string"}}, ["order"]),
        tool("weather", {"city": {"type": "string"}}, ["city"], returns=WEATHER_RETURNS),
        tool("list_ids", {}, **{"x-returns": {"type": "array", "items": {"type": "string"}, "minItems": 2}}),
        tool("free", {"a": {"type": "integer"}}),
    ]
    ref = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "", "tool_calls": [
            # recorded with odd whitespace, key order, a float that is an integer, and no default-valued args
            {"id": "r1", "type": "function",
             "function": {"name": "search", "arguments": '{ "price" : 5.0,\n  "q":"shoes" }'}},
            {"id": "r2", "type": "function", "function": {"name": "get_status", "arguments": '{"order": "A1"}'}},
        ]},
        # results come back out of order: matched by tool_call_id
        {"role": "tool", "tool_call_id": "r2", "content": '{"status": "pending"}'},
        {"role": "tool", "tool_call_id": "r1", "content": '{"hits": ["s1", "s2"]}'},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "r3", "type": "function", "function": {"name": "get_status", "arguments": {"order": "A1"}}}]},
        {"role": "tool", "tool_call_id": "r3", "content": '{"status": "shipped"}'},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "r4", "type": "function", "function": {"name": "get_status", "arguments": '{"order": "A1"}'}}]},
        {"role": "tool", "tool_call_id": "r4", "content": '{"status": "delivered"}'},
        {"role": "assistant", "content": "done"},
    ]
    return Task.model_validate({"id": "offline-test", "tools": tools, "turns": [{"user": "go"}], "reference": ref})


@pytest.fixture()
def session():
    return OfflineToolSimulator().session(make_task())


# ------------------------------------------------------------------------------------------- canonical


def test_canonical_equivalences():
    schema = {"type": "object", "properties": {"limit": {"type": "integer", "default": 10},
                                               "f": {"type": "object", "properties": {"s": {"default": "asc"}}}}}
    a = canonical_args({"q": "x", "n": 1.0, "nested": {"b": 2.0, "a": [1.0, 2.5]}})
    b = canonical_args({"nested": {"a": [1, 2.5], "b": 2}, "n": 1, "q": "x"})
    assert a == b
    assert canonical_args({"q": "x"}, schema) == canonical_args({"q": "x", "limit": 10}, schema)
    assert canonical_args({"f": {}}, schema) == canonical_args({"f": {"s": "asc"}}, schema)
    assert canonical_args({"q": "x"}, schema) != canonical_args({"q": "x", "limit": 11}, schema)
    assert canonical_args({"n": 1.5}) != canonical_args({"n": 1})
    assert call_key("a", {}) != call_key("b", {})
    assert fill_defaults({"limit": 3}, schema)["limit"] == 3  # given values win over defaults
    assert canonical_args(None) == "{}"


# ------------------------------------------------------------------------------------------- replay


@pytest.mark.parametrize(
    "args",
    [
        {"q": "shoes", "price": 5},  # 5 vs 5.0, other key order
        {"price": 5.0, "q": "shoes"},
        {"q": "shoes", "price": 5, "limit": 10},  # the schema default, explicit
        {"q": "shoes", "price": 5.0, "limit": 10.0},  # default explicit, as a float
    ],
)
async def test_replay_matches_canonically(session, args):
    r = await session.call(call("search", args))
    assert r.source == "replay" and r.error is None
    assert json.loads(r.content) == {"hits": ["s1", "s2"]}


async def test_different_arguments_do_not_replay(session):
    r = await session.call(call("search", {"q": "shoes", "price": 5, "limit": 11}))
    assert r.source == "synthetic"
    r = await session.call(call("search", {"q": "Shoes", "price": 5}))
    assert r.source == "synthetic"


async def test_kth_identical_call_gets_kth_recording(session):
    got = [json.loads((await session.call(call("get_status", {"order": "A1"}))).content)["status"]
           for _ in range(4)]
    assert got == ["pending", "shipped", "delivered", "delivered"]  # then the last one


async def test_occurrences_are_per_session():
    sim = OfflineToolSimulator()
    task = make_task()
    s1 = sim.session(task)
    await s1.call(call("get_status", {"order": "A1"}))
    s2 = sim.session(task)
    r = await s2.call(call("get_status", {"order": "A1"}))
    assert json.loads(r.content)["status"] == "pending"


# ------------------------------------------------------------------------------------------- synthetic


async def test_non_reference_call_is_synthetic_and_memoised(session):
    r1 = await session.call(call("free", {"a": 1}))
    assert r1.source == "synthetic" and r1.meta.get("synthetic") is True and r1.error is None
    body = json.loads(r1.content)
    assert body["synthetic"] is True
    r2 = await session.call(call("free", {"a": 1.0}))  # same call canonically
    assert r2.content == r1.content
    r3 = await session.call(call("free", {"a": 2}))
    assert r3.content != r1.content


async def test_synthetic_is_deterministic_across_sessions_and_simulators():
    task = make_task()
    a = await OfflineToolSimulator().session(task).call(call("weather", {"city": "Oslo"}))
    b = await OfflineToolSimulator().session(make_task()).call(call("weather", {"city": "Oslo"}))
    assert a.content == b.content


def test_synthetic_is_deterministic_across_processes():
    here = synthesize("t", tool("f"), "f", canonical_args({"a": 1}))
    code = ("from cm2_env.tools.synthetic import synthesize; from cm2_env.tools.canonical import canonical_args;"
            "print(synthesize('t', {'type': 'function', 'function': {'name': 'f', 'parameters': {'type': 'object',"
            " 'properties': {}, 'required': []}}}, 'f', canonical_args({'a': 1})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == here


@pytest.mark.parametrize("city", ["Oslo", "Lima", "Quito", "Nairobi", "Perth", "Baku"])
async def test_synthetic_conforms_to_declared_returns_schema(session, city):
    r = await session.call(call("weather", {"city": city}))
    assert r.source == "synthetic"
    body = json.loads(r.content)
    jsonschema.validate(body, WEATHER_RETURNS)
    assert body["kind"] == "forecast" and body["synthetic"] is True
    assert len(body["hourly"]) >= 3


async def test_synthetic_array_result_schema(session):
    r = await session.call(call("list_ids", {}))
    body = json.loads(r.content)
    jsonschema.validate(body, {"type": "array", "items": {"type": "string"}, "minItems": 2})
    assert r.meta["synthetic"] is True  # a non-object result is still flagged, in meta


def test_result_schema_keys():
    assert result_schema(tool("a", returns={"type": "string"})) == {"type": "string"}
    assert result_schema(tool("a", response={"type": "integer"})) == {"type": "integer"}
    assert result_schema(tool("a")) is None


async def test_generic_synthetic_without_schema_echoes_call(session):
    body = json.loads((await session.call(call("free", {"a": 7}))).content)
    assert body["status"] == "ok" and body["tool"] == "free" and body["arguments"] == {"a": 7}


async def test_close_clears_memo(session):
    await session.call(call("free", {"a": 1}))
    assert session.memo
    session.close()
    assert not session.memo


# ------------------------------------------------------------------------------------------- returns-schema coverage
# Result schemas as tool authors (and schema generators such as pydantic) write them. Each test pins one
# schema feature the synthetic result must respect to "conform to the declared returns schema".


def _synth_many(schema: dict, n: int = 12) -> list:
    t = tool("f", returns=schema)
    return [json.loads(synthesize("task", t, "f", canonical_args({"i": i}))) for i in range(n)]


def test_synthetic_respects_additional_properties_false():
    schema = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"],
              "additionalProperties": False}
    for value in _synth_many(schema):
        jsonschema.validate(value, schema)


def test_synthetic_respects_string_length_bounds():
    schema = {"type": "object", "properties": {"code": {"type": "string", "minLength": 16},
                                               "iso": {"type": "string", "minLength": 2, "maxLength": 2}}}
    for value in _synth_many(schema):
        jsonschema.validate(value, schema)


@pytest.mark.parametrize("prop", [
    {"type": "integer", "maximum": -1},
    {"type": "number", "maximum": -10},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    {"type": "integer", "exclusiveMinimum": 5, "maximum": 6},
])
def test_synthetic_respects_numeric_bounds(prop):
    schema = {"type": "object", "properties": {"x": prop}, "required": ["x"]}
    for value in _synth_many(schema):
        jsonschema.validate(value, schema)


def test_synthetic_resolves_local_refs_and_allof():
    schema = {
        "type": "object",
        "properties": {"item": {"$ref": "#/$defs/Item"},
                       "meta": {"allOf": [{"type": "object", "properties": {"n": {"type": "integer"}},
                                           "required": ["n"]}]}},
        "required": ["item", "meta"],
        "$defs": {"Item": {"type": "object", "properties": {"price": {"type": "number"}}, "required": ["price"]}},
    }
    for value in _synth_many(schema):
        jsonschema.validate(value, schema)
