"""Import/export of the CM2 authors' labelled format.

Every test runs on ``data/cm2_sample.json``, a small sample this project wrote by hand in the authors' format
(a list of ``{uuid, messages, tools, checklists[variant][turn][item]}`` records). The authors' released sample
(``../shared/fixtures/cm2/checklist_annotated.json``, beside the checkout, never copied into the project) gets
the same checks in one extra test, only where it exists.
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path

import pytest

from cm2_env.tasks import Task, from_cm2, is_cm2_record, load_tasks, to_cm2, validate_document, validate_file

SAMPLE = Path(__file__).resolve().parent / "data" / "cm2_sample.json"
AUTHORS_SAMPLE = (Path(__file__).resolve().parents[2] / "../shared/fixtures/cm2/checklist_annotated.json").resolve()


@pytest.fixture(scope="module")
def records() -> list[dict]:
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    assert isinstance(data, list) and len(data) >= 2
    return data


@pytest.fixture(scope="module")
def record(records) -> dict:
    return records[0]


# ------------------------------------------------------------------------------- checks shared by both samples


def check_every_item_field_survives(record: dict, *, needs_extra_info: bool = True) -> None:
    task = from_cm2(record)
    assert len(task.checklist_variants) == len(record["checklists"])
    for v, variant in enumerate(record["checklists"]):
        assert len(task.checklist_variants[v]) == len(variant)
        for t, turn in enumerate(variant):
            assert len(task.checklist_variants[v][t]) == len(turn)
            for i, src in enumerate(turn):
                item = task.checklist_variants[v][t][i]
                dumped = item.model_dump(by_alias=True, exclude_none=True)
                for key, value in src.items():  # every source field, verbatim
                    assert dumped[key] == value, (v, t, i, key)
                # the fields the format is known to have, spelled out
                assert item.id == src["id"] and item.question == src["question"]
                assert item.pass_condition == src["pass_condition"]
                assert item.focus_on == src["focus_on"]
                assert item.failure_examples == src["failure_examples"]
                assert item.required_for_next_turn == src["required_for_next_turn"]
                assert item.dependence == src["dependence"]
                assert item.weight == pytest.approx(src["weight"])
                assert item.extra_info == src.get("extra_info", {})
                for ev, src_ev in zip(item.evidence, src["evidence"], strict=True):
                    assert ev.from_ == src_ev["from"]
                    assert (ev.turn, ev.step, ev.snippet) == (src_ev["turn"], src_ev["step"], src_ev["snippet"])
    items = [it for v in task.checklist_variants for t in v for it in t]
    assert any(it.evidence for it in items)
    if needs_extra_info:
        assert any(it.extra_info for it in items)


def check_active_checklist_turns_and_reference(record: dict) -> None:
    task = from_cm2(record)
    assert isinstance(task, Task)
    assert task.id == record["uuid"]
    assert task.metadata["uuid"] == record["uuid"] and task.metadata["source"] == "cm2"
    users = [m["content"] for m in record["messages"] if m["role"] == "user"]
    assert [t.user for t in task.turns] == users
    for t, turn in enumerate(task.turns):
        assert [it.id for it in turn.checklist] == [it["id"] for it in record["checklists"][0][t]]
    msgs = [m for m in record["messages"] if m["role"] != "system"]
    assert [m.model_dump(exclude_none=True) for m in task.reference] == msgs
    assert task.tools == record["tools"]


def check_round_trip_is_lossless(record: dict) -> None:
    original = copy.deepcopy(record)
    assert to_cm2(from_cm2(record)) == original
    assert record == original  # import does not mutate its input


def check_imported_task_is_a_valid_task_document(record: dict) -> None:
    assert validate_document(record) == [] and validate_document([record]) == []
    task = from_cm2(record)
    doc = {"tasks": [task.model_dump(by_alias=True, exclude_none=True)]}
    assert validate_document(doc) == []
    again = Task.model_validate(doc["tasks"][0])
    assert to_cm2(again) == record


def check_runs_in_the_env_with_items_unjudged(record: dict) -> None:
    """No item has a programmatic check and no LLM judge is set: all unjudged, excluded, never scored 0."""
    from agents.reference import ReferenceAgent
    from cm2_env import ToolTaskEnv

    task = from_cm2(record)
    env = ToolTaskEnv(tasks=[task])
    agent = ReferenceAgent()
    obs, info = env.reset(options={"task_id": task.id})
    agent.reset(task)
    done, steps = False, 0
    while not done and steps < 50:
        action = asyncio.run(agent.act(obs, info))
        obs, reward, term, trunc, info = env.step(action)
        done = term or trunc
        steps += 1
    assert done
    n_items = sum(len(t.checklist) for t in task.turns)
    assert info["counts"]["unjudged"] == n_items
    assert info["score"] is None and reward == 0.0
    assert info["warnings"]
    assert info["tool_calls"][0]["source"] == "replay"  # the reference's recorded tool result was replayed
    env.close()


# ------------------------------------------------------------------------------- the project's own sample


def test_sample_is_recognised(records):
    assert all(is_cm2_record(r) for r in records)
    assert not is_cm2_record({"id": "x", "tools": [], "turns": []})


def test_sample_file_validates_and_loads():
    assert validate_file(SAMPLE) == []
    tasks = load_tasks(SAMPLE)
    assert [t.id for t in tasks] == ["sample-library-0001", "sample-weather-0002"]
    assert tasks[1].system_prompt == "You are a concise weather assistant."
    assert tasks[1].metadata["source_dataset"] == "hand-written"


def test_every_item_field_survives(records):
    for rec in records:
        check_every_item_field_survives(rec, needs_extra_info=rec is records[0])


def test_active_checklist_turns_and_reference(records):
    for rec in records:
        check_active_checklist_turns_and_reference(rec)


def test_round_trip_is_lossless(records):
    for rec in records:
        check_round_trip_is_lossless(rec)


def test_imported_task_is_a_valid_task_document(records):
    for rec in records:
        check_imported_task_is_a_valid_task_document(rec)


def test_imported_sample_runs_in_the_env_with_items_unjudged(records):
    for rec in records:
        check_runs_in_the_env_with_items_unjudged(rec)


def test_the_other_variant_is_selectable(record):
    t1 = from_cm2(record, variant=1)
    assert [[it.id for it in t.checklist] for t in t1.turns] == [["A0"], ["A0"], []]
    assert t1.metadata["checklist_variant"] == 1
    assert to_cm2(t1) == record


def _synthetic_record() -> dict:
    item = {"id": "C0", "question": "q?", "pass_condition": "p", "focus_on": "tool.content",
            "evidence": [{"turn": 0, "step": 2, "from": "tool.content", "snippet": "ok"}],
            "failure_examples": [], "required_for_next_turn": False, "dependence": [], "weight": 1.0,
            "extra_info": {"labeller": "x", "cost": 0.1}}
    alt = {**copy.deepcopy(item), "id": "A0", "question": "alt?"}
    return {
        "uuid": "u-1",
        "messages": [
            {"role": "system", "content": "You are a bot."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "<think>x</think>hello"},
            {"role": "user", "content": "bye"},
            {"role": "assistant", "content": "bye"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "checklists": [[[item], [copy.deepcopy(item)]], [[alt], [copy.deepcopy(alt)]]],
        "source_dataset": "toolace",  # an extra top-level field
    }


def test_system_prompt_variants_and_extra_fields():
    rec = _synthetic_record()
    t0 = from_cm2(rec)
    assert t0.system_prompt == "You are a bot."
    assert [m.role for m in t0.reference] == ["user", "assistant", "user", "assistant"]
    assert t0.turns[0].checklist[0].id == "C0"
    assert t0.metadata["source_dataset"] == "toolace"
    t1 = from_cm2(rec, variant=1)
    assert t1.turns[0].checklist[0].id == "A0" and t1.metadata["checklist_variant"] == 1
    assert len(t1.checklist_variants) == 2
    assert to_cm2(t0) == rec
    assert to_cm2(t1) == rec
    with pytest.raises(ValueError):
        from_cm2(rec, variant=2)


# ------------------------------------------------------------------------------- the authors' sample


@pytest.mark.skipif(not AUTHORS_SAMPLE.is_file(),
                    reason=f"the shared fixture is absent: no CM2 authors' sample at {AUTHORS_SAMPLE}")
def test_authors_sample_imports_round_trips_validates_and_runs():
    data = json.loads(AUTHORS_SAMPLE.read_text(encoding="utf-8"))
    assert isinstance(data, list) and data
    assert validate_file(AUTHORS_SAMPLE) == []
    for rec in data:
        assert is_cm2_record(rec)
        check_every_item_field_survives(rec)
        check_active_checklist_turns_and_reference(rec)
        check_round_trip_is_lossless(rec)
        check_imported_task_is_a_valid_task_document(rec)
    check_runs_in_the_env_with_items_unjudged(data[0])
