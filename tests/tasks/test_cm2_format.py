"""Import/export of the CM2 authors' labelled format, checked on their released sample."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from cm2_env.tasks import Task, from_cm2, is_cm2_record, to_cm2, validate_document

# the `shared` folder beside the repo root (never copied into the project)
FIXTURE = (Path(__file__).resolve().parents[2] / "../shared/fixtures/cm2/checklist_annotated.json").resolve()


@pytest.fixture(scope="module")
def record() -> dict:
    data = json.loads(FIXTURE.read_text())
    assert isinstance(data, list) and data
    return data[0]


def test_fixture_is_recognised(record):
    assert is_cm2_record(record)
    assert not is_cm2_record({"id": "x", "tools": [], "turns": []})


def test_every_item_field_survives(record):
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
    # the sample really exercises extra_info and evidence
    items = [it for v in task.checklist_variants for t in v for it in t]
    assert any(it.extra_info for it in items)
    assert any(it.evidence for it in items)


def test_active_checklist_turns_and_reference(record):
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


def test_round_trip_is_lossless(record):
    original = copy.deepcopy(record)
    assert to_cm2(from_cm2(record)) == original
    assert record == original  # import does not mutate its input


def test_imported_task_is_a_valid_task_document(record):
    task = from_cm2(record)
    doc = {"tasks": [task.model_dump(by_alias=True, exclude_none=True)]}
    assert validate_document(doc) == []
    again = Task.model_validate(doc["tasks"][0])
    assert to_cm2(again) == record


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


def test_imported_sample_runs_in_the_env_with_items_unjudged(record):
    """No item has a programmatic check and no LLM judge is set: all unjudged, excluded, never scored 0."""
    from agents.reference import ReferenceAgent
    from cm2_env import ToolTaskEnv

    task = from_cm2(record)
    env = ToolTaskEnv(tasks=[task])
    agent = ReferenceAgent()
    obs, info = env.reset(options={"task_id": task.id})
    agent.reset(task)
    import asyncio

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
    # the reference's recorded tool result (an error, in the sample) was replayed
    assert info["tool_calls"][0]["source"] == "replay"
    env.close()
