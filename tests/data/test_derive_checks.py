"""`cm2 data derive-checks`: programmatic checks only where the item is pinned, never failing the reference
(verified with the runtime rule engine); coverage and judge calls saved reported."""

from __future__ import annotations

import copy
import json

import pytest

from cm2_env.data.derive_checks import derive_item, derive_record, passes_reference
from cm2_env.data.stage import get_stage
from cm2_env.judge.checks import CheckContext
from cm2_env.judge.rule import decide
from cm2_env.tasks.cm2_format import from_cm2
from cm2_env.tasks.models import ChecklistItem

SCHEMAS = {"get_weather": {"city": {"type": "string"}, "days": {"type": "integer"}}, "get_time": {"city": {}}}


def item(cond: str, focus: str = "assistant.tool_calls", question: str = "Did it call the tool?") -> dict:
    return {"id": "C0", "question": question, "pass_condition": cond, "focus_on": focus,
            "evidence": [{"turn": 0, "step": 1, "from": "assistant.tool_calls", "snippet": "get_weather"}],
            "failure_examples": [], "required_for_next_turn": True, "dependence": [], "weight": 1.0}


@pytest.mark.parametrize("cond, args", [
    ('There exists an assistant tool call with name=get_weather and arguments.city == "Paris".', {"city": "Paris"}),
    ("A call to get_weather with city='Paris' and days=2.", {"city": "Paris", "days": 2}),
    ("The assistant calls get_weather.", {}),
])
def test_pinned_conditions_become_tool_called(cond, args):
    checks, why = derive_item(item(cond), SCHEMAS)
    assert why == "derived"
    assert checks[0] == {"type": "tool_called", "name": "get_weather",
                         "args": {k: {"equals": v} for k, v in args.items()}}


@pytest.mark.parametrize("cond, why", [
    ('A get_weather call with arguments.city == "Paris" or a similar spelling.', "hedged"),
    ('get_weather called with city approximately "Paris".', "hedged"),
    ("get_weather is not called.", "hedged"),
    ("get_time is called after get_weather.", "hedged"),
    ('get_weather and get_time are called with city "Paris".', "several_tools"),
    ("get_weather is called with the city the user named.", "unpinned_argument"),
    ("The assistant calls get_weather with the right arguments.", "unpinned_argument"),
    ("The assistant asks which city.", "no_tool_name"),
])
def test_anything_less_than_a_pinned_call_is_left_to_the_judge(cond, why):
    assert derive_item(item(cond), SCHEMAS) == ([], why)


def test_other_focus_is_left_to_the_judge():
    assert derive_item(item("get_weather", focus="tool.content"), SCHEMAS) == ([], "not_tool_calls")


def test_a_check_that_would_fail_the_reference_is_not_attached(data):
    rec = data.labelled(data.good_record("r1"))  # the reference calls get_weather(city=Paris, days=2)
    rec["checklists"][0][0][0]["pass_condition"] = 'get_weather with arguments.city == "London".'
    new, why, _ = derive_record(rec)
    assert why["fails_reference"] == 1 and new["checklists"][0][0][0].get("check") is None
    rec["checklists"][0][0][0]["pass_condition"] = "get_weather with days == \"2\"."  # a string for an integer
    new, why, _ = derive_record(rec)
    assert why["derived"] == 1
    assert new["checklists"][0][0][0]["check"]["args"] == {"days": {"equals": 2}}


def test_stage_reports_coverage_and_judge_calls_saved(data, tmp_path):
    recs = []
    for i in range(2):
        r = data.labelled(data.good_record(f"r{i}", turns=2))
        for turn in r["checklists"][0]:
            turn[0]["pass_condition"] = 'There exists a call with name=get_weather and arguments.city == "Paris".'
        recs.append(r)
    recs.append(data.good_record("r9"))  # unlabelled: passed through
    inp = data.write_jsonl(tmp_path / "in.jsonl", recs)
    report = get_stage("derive-checks")(inp, tmp_path / "out.jsonl", {})
    assert report["kept"] == 3 and report["items"] == 8 and report["items_covered"] == 4
    assert report["fraction_covered"] == 0.5
    assert report["judge_calls_saved_per_episode"] == {"per_item": 2.0, "batched": 0.0}
    out = data.read_jsonl(tmp_path / "out.jsonl")
    for r in out[:2]:
        task = from_cm2(r)
        assert task.turns[0].checklist[0].check.type == "tool_called"
        assert r["meta"]["derive_checks"] == {"items": 4, "covered": 2}
    # resumed: the report covers the earlier run's records too
    again = get_stage("derive-checks")(inp, tmp_path / "out.jsonl", {})
    assert again["items_covered"] == 4 and again["skipped_already_done"] == 3


def test_every_derived_check_passes_its_reference_turn_with_the_rule_engine(data, tmp_path, scripted_server_records):
    for rec in scripted_server_records:
        new, why, _ = derive_record(rec)
        task = from_cm2(new)
        turns = task.reference_turns()
        n = 0
        for t, items in enumerate(new["checklists"][0]):
            for it in items:
                if it.get("check"):
                    n += 1
                    ctx = CheckContext(task=task, turn=t, turn_messages=turns[t])
                    assert decide(ChecklistItem.model_validate(it), ctx).status == "passed"
        assert n == why["derived"] > 0


def test_the_authors_sample_gets_its_one_pinned_call(cm2_fixture):
    rec = json.loads(cm2_fixture.read_text())[0]
    rec = {**rec, "id": rec.pop("uuid")}
    new, why, saved = derive_record(copy.deepcopy(rec))
    assert why["derived"] == 1
    check = new["checklists"][0][0][0]["check"]
    assert check == {"type": "tool_called", "name": "get_the_last_games_of_a_football_team",
                     "args": {"teamid": {"equals": "Washington Huskies"}}}
    assert passes_reference(from_cm2(new), 0, new["checklists"][0][0][0], check)


@pytest.fixture
def scripted_server_records(data):
    """Records labelled by the scripted labeller (pass conditions that pin a call and its first argument)."""
    from cm2_test_servers.roles import label_answer

    from cm2_env.data.label import build_messages, checklists_from_output

    out = []
    for i, turns in ((0, 1), (1, 2)):
        rec = data.good_record(f"r{i}", turns=turns, calls=2)
        body = {"messages": build_messages(rec)}
        cls, errs = checklists_from_output(json.loads(label_answer(body)), turns)
        assert errs == []
        rec["checklists"] = [cls]
        out.append(rec)
    return out
