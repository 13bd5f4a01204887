"""Builders of small synthetic conversations for the data-stage tests (the ``data`` fixture)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

FIXTURE = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "cm2" / "checklist_annotated.json"

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather forecast for a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name."},
        "days": {"type": "integer", "minimum": 1, "description": "Days ahead."},
        "units": {"type": "string", "enum": ["metric", "imperial"]}},
        "required": ["city"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "Local time in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def call(name: str, args: dict[str, Any], cid: str = "c1") -> dict[str, Any]:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def good_record(rid: str = "r1", turns: int = 1, calls: int = 1) -> dict[str, Any]:
    """A record every rule keeps: per turn, user → assistant (think + calls) → tools → assistant (think + answer)."""
    messages: list[dict[str, Any]] = []
    for t in range(turns):
        messages.append({"role": "user", "content": f"What is the weather in Paris (turn {t})?"})
        cs = [call("get_weather", {"city": "Paris", "days": 2}, f"c{t}_{k}") for k in range(calls)]
        messages.append({"role": "assistant", "content": "<think>\nLook it up.\n</think>\n\n", "tool_calls": cs})
        for c in cs:
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": json.dumps({"temp_c": 18, "sky": "clear"})})
        messages.append({"role": "assistant", "content": "<think>\nAnswer.\n</think>\n\nIt is 18 C and clear in Paris."})
    return {"id": rid, "messages": messages, "tools": [copy.deepcopy(WEATHER), copy.deepcopy(TIME)],
            "source": {"format": "test"}, "meta": {}}


def nemotron_row(uuid: str = "u1", **kw: Any) -> dict[str, Any]:
    rec = good_record(uuid, **kw)
    msgs = []
    for m in rec["messages"]:
        m = {k: v for k, v in m.items() if k != "tool_call_id"}
        m.setdefault("tool_calls", [])
        msgs.append(m)
    return {"uuid": uuid, "messages": msgs, "license": "cc-by-4.0", "category": "tool_calling",
            "metadata": json.dumps({"tools": rec["tools"]})}


def checklists_for(record: dict[str, Any]) -> list:
    """One valid checklist variant: per user turn, two items (weights 0.5) citing the turn's first call."""
    variant = []
    for t, _ in enumerate(m for m in record["messages"] if m["role"] == "user"):
        variant.append([
            {"id": f"T{t}C0", "question": "Did the assistant call get_weather for Paris?",
             "pass_condition": "A get_weather call with city Paris.", "focus_on": "assistant.tool_calls",
             "evidence": [{"turn": t, "step": 1, "from": "assistant.tool_calls", "snippet": "get_weather"}],
             "failure_examples": ["no call"], "required_for_next_turn": False, "dependence": [], "weight": 0.5},
            {"id": f"T{t}C1", "question": "Did the assistant report the temperature?",
             "pass_condition": "The reply states 18 C.", "focus_on": "assistant.content.user_visible_reply",
             "evidence": [{"turn": t, "step": 2, "from": "assistant.content.user_visible_reply", "snippet": "18 C"}],
             "failure_examples": ["no temperature"], "required_for_next_turn": False,
             "dependence": [f"T{t}C0"], "weight": 0.5},
        ])
    return [variant]


def labelled(record: dict[str, Any]) -> dict[str, Any]:
    rec = copy.deepcopy(record)
    rec["checklists"] = checklists_for(rec)
    return rec


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for r in rows:
            fh.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path


def read_jsonl(path: Path) -> list[Any]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


@pytest.fixture
def data() -> SimpleNamespace:
    return SimpleNamespace(good_record=good_record, nemotron_row=nemotron_row, call=call, labelled=labelled,
                           checklists_for=checklists_for, write_jsonl=write_jsonl, read_jsonl=read_jsonl,
                           WEATHER=WEATHER, TIME=TIME, FIXTURE=FIXTURE)


@pytest.fixture
def cm2_fixture() -> Path:
    if not FIXTURE.is_file():
        pytest.skip(f"the CM2 authors' labelled sample is not here ({FIXTURE})")
    return FIXTURE
