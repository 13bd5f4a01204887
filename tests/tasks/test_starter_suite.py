"""The bundled starter suite: size and shape requirements, and a well-formed reference for every task.

The reference must also pass every programmatic check of its own checklist, judged by the runtime rule engine
(``reference_failures``); and the shipped JSON must be exactly what ``scripts/starter_suite/build.py`` builds
from the YAML sources beside it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from cm2_env.judge.reference import reference_failures
from cm2_env.tasks import load_suite
from cm2_env.tasks.models import Task

SUITE = load_suite("starter")
IDS = [t.id for t in SUITE]
REPO_ROOT = Path(__file__).resolve().parents[2]
BUILDER = REPO_ROOT / "scripts" / "starter_suite" / "build.py"
SHIPPED = REPO_ROOT / "cm2_env" / "tasks" / "suites" / "starter"


# ----------------------------------------------------------------------------- helpers


def ref_turns(task: Task) -> list[list[dict]]:
    return task.reference_turns()


def is_error(content: str) -> bool:
    obj = json.loads(content)
    return isinstance(obj, dict) and "error" in obj


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def value_leaves(value) -> list[str]:
    """Every scalar argument value as it would appear in JSON text (strings bare, numbers as JSON)."""
    if isinstance(value, str):
        return [value]
    if _num(value):
        return [json.dumps(value)]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for v in value for s in value_leaves(v)]
    return []


def has_dependent_turn(task: Task) -> bool:
    """Some turn has >= 2 calls where a later call's argument value occurs in an earlier tool result of that turn."""
    for msgs in ref_turns(task):
        results_so_far: list[str] = []
        n_calls = 0
        for m in msgs:
            if m["role"] == "tool":
                results_so_far.append(m["content"])
            elif m["role"] == "assistant":
                for c in m.get("tool_calls") or []:
                    n_calls += 1
                    args = json.loads(c["function"]["arguments"])
                    values = [v for v in value_leaves(args) if len(v) >= 3]
                    if any(v in r for v in values for r in results_so_far):
                        return n_calls >= 2
    return False


def has_error_recovery(task: Task) -> bool:
    """A recorded domain-error result, later followed by a successful call to the same tool."""
    ref = [m.model_dump(exclude_none=True) for m in task.reference or []]
    names = {c["id"]: c["function"]["name"] for m in ref for c in m.get("tool_calls") or []}
    failed: set[str] = set()
    for m in ref:
        if m["role"] != "tool":
            continue
        name = names[m["tool_call_id"]]
        if is_error(m["content"]):
            failed.add(name)
        elif name in failed:
            return True
    return False


# ----------------------------------------------------------------------------- suite-level counts


def test_suite_size_and_domains():
    assert len(SUITE) >= 40
    assert len({t.domain for t in SUITE}) >= 8
    assert len(set(IDS)) == len(IDS)
    for t in SUITE:
        assert t.id.startswith(t.domain + "-"), t.id


def test_every_task_is_multi_turn_and_a_quarter_has_three_turns():
    assert all(len(t.turns) >= 2 for t in SUITE), [t.id for t in SUITE if len(t.turns) < 2]
    three = sum(len(t.turns) >= 3 for t in SUITE)
    assert three >= 0.25 * len(SUITE), f"only {three}/{len(SUITE)} tasks have >= 3 turns"


def test_every_task_has_a_turn_with_a_dependent_call():
    missing = [t.id for t in SUITE if not has_dependent_turn(t)]
    assert not missing, f"no turn with a call that uses an earlier result of the same turn: {missing}"


def test_error_recovery_tasks():
    tagged = [t for t in SUITE if "error_recovery" in t.metadata.get("tags", [])]
    assert len(tagged) >= 5
    for t in tagged:
        assert has_error_recovery(t), f"{t.id} is tagged error_recovery but has no error followed by a success"


def test_at_least_70_percent_of_items_have_checks():
    items = [it for t in SUITE for turn in t.turns for it in turn.checklist]
    with_check = sum(it.check is not None for it in items)
    assert with_check / len(items) >= 0.70, f"{with_check}/{len(items)}"
    assert with_check < len(items), "some items should be LLM-judged"


def test_check_types_are_all_used():
    used = Counter(it.check.type for t in SUITE for turn in t.turns for it in turn.checklist if it.check)
    assert set(used) == {"tool_called", "tool_not_called", "reply_matches", "tool_result_matches"}, used


# ----------------------------------------------------------------------------- per-task shape


@pytest.mark.parametrize("task", SUITE, ids=IDS)
def test_checklists_well_formed(task: Task):
    for ti, turn in enumerate(task.turns):
        assert turn.checklist, f"turn {ti} has no checklist"
        ids = [it.id for it in turn.checklist]
        assert ids == [f"C{i}" for i in range(len(ids))]
        assert abs(sum(it.weight for it in turn.checklist) - 1.0) < 1e-6
        assert any(it.required_for_next_turn for it in turn.checklist), f"turn {ti}: no required item"
        for it in turn.checklist:
            assert set(it.dependence) <= set(ids) - {it.id}
            assert it.question and it.pass_condition and len(it.failure_examples) >= 2
            assert it.evidence


@pytest.mark.parametrize("task", SUITE, ids=IDS)
def test_reference_well_formed(task: Task):
    assert task.system_prompt
    names = [tool["function"]["name"] for tool in task.tools]
    assert len(set(names)) == len(names)
    schemas = {tool["function"]["name"]: tool["function"]["parameters"] for tool in task.tools}
    for s in schemas.values():
        jsonschema.Draft202012Validator.check_schema(s)
    ref = [m.model_dump(exclude_none=True) for m in task.reference or []]
    assert ref and ref[0]["role"] == "user"
    assert [m["content"] for m in ref if m["role"] == "user"] == [t.user for t in task.turns]
    assert all(m["role"] != "system" for m in ref)
    recorded: dict[str, str] = {}
    i = 0
    while i < len(ref):
        m = ref[i]
        if m["role"] == "assistant" and m.get("tool_calls"):
            calls = m["tool_calls"]
            tools = ref[i + 1:i + 1 + len(calls)]
            assert [t["role"] for t in tools] == ["tool"] * len(calls), f"message {i}: tool results missing"
            assert [t["tool_call_id"] for t in tools] == [c["id"] for c in calls]
            for c, res in zip(calls, tools):
                assert c["type"] == "function"
                name = c["function"]["name"]
                assert name in schemas, name
                args = json.loads(c["function"]["arguments"])
                jsonschema.validate(args, schemas[name])
                assert isinstance(json.loads(res["content"]), dict)
                key = name + json.dumps(args, sort_keys=True)
                assert recorded.setdefault(key, res["content"]) == res["content"], f"{key}: two different results"
            i += 1 + len(calls)
            continue
        assert m["role"] in ("user", "assistant"), f"message {i}: unexpected {m['role']}"
        i += 1
    all_ids = [c["id"] for m in ref for c in m.get("tool_calls") or []]
    assert len(set(all_ids)) == len(all_ids)
    for ti, msgs in enumerate(ref_turns(task)):
        last = msgs[-1]
        assert last["role"] == "assistant" and not last.get("tool_calls") and last.get("content"), f"turn {ti}"


@pytest.mark.parametrize("task", SUITE, ids=IDS)
def test_reference_passes_its_own_checks(task: Task):
    assert len(task.reference_turns()) == len(task.turns)
    assert reference_failures(task) == []


@pytest.mark.parametrize("task", SUITE, ids=IDS)
def test_evidence_points_into_the_reference(task: Task):
    turns = ref_turns(task)
    for turn in task.turns:
        for it in turn.checklist:
            for ev in it.evidence:
                m = turns[ev.turn][ev.step]
                if ev.from_ == "assistant.tool_calls":
                    text = " ".join(f"{c['function']['name']}({c['function']['arguments']})" for c in m.get("tool_calls") or [])
                else:
                    text = m.get("content") or ""
                assert ev.snippet.lower() in text.lower(), f"{it.id}: {ev.snippet!r} not at turn {ev.turn} step {ev.step}"


def load_builder():
    """``scripts/starter_suite/build.py`` as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("_starter_suite_build", BUILDER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_json_files_are_what_the_builder_writes():
    """The shipped JSON is generated: editing it by hand (or the YAML without rebuilding) is caught here."""
    docs = load_builder().build_documents()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in SHIPPED.glob("*.json")}
    assert set(docs) == set(on_disk)
    for name, text in docs.items():
        assert on_disk[name] == text, f"{name} is stale: run python scripts/starter_suite/build.py"


def test_every_domain_has_a_yaml_source():
    assert sorted(p.stem for p in BUILDER.parent.glob("*.yaml")) == sorted({t.domain for t in SUITE})
