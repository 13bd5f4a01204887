"""Task-file loading and validation: every error located by file, task id and JSON path."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cm2_env.cli import main as cli_main
from cm2_env.tasks import Task, TaskFileError, load_tasks, parse_tasks, validate_document, validate_file
from cm2_env.tasks.schema import SCHEMA_PATH, build_schema

REPO = Path(__file__).resolve().parents[2]


def make_task(task_id: str = "t1") -> dict:
    return {
        "id": task_id,
        "domain": "test",
        "system_prompt": "You are helpful.",
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_balance",
                    "description": "Balance of an account.",
                    "parameters": {
                        "type": "object",
                        "properties": {"account": {"type": "string"}},
                        "required": ["account"],
                    },
                },
            }
        ],
        "turns": [
            {
                "user": "What's my balance on ACC1?",
                "checklist": [
                    {
                        "id": "C0",
                        "question": "Did it look up ACC1?",
                        "weight": 0.6,
                        "required_for_next_turn": True,
                        "check": {"type": "tool_called", "name": "get_balance",
                                  "args": {"account": {"equals": "ACC1"}}},
                    },
                    {
                        "id": "C1",
                        "question": "Did it tell the balance?",
                        "focus_on": "assistant.content.user_visible_reply",
                        "weight": 0.4,
                        "dependence": ["C0"],
                        "check": {"type": "reply_matches", "any": ["100"]},
                    },
                ],
            },
            {"user": "Thanks!", "checklist": []},
        ],
        "reference": [
            {"role": "user", "content": "What's my balance on ACC1?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "get_balance", "arguments": "{\"account\": \"ACC1\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "{\"balance\": 100}"},
            {"role": "assistant", "content": "Your balance is 100."},
            {"role": "user", "content": "Thanks!"},
            {"role": "assistant", "content": "You're welcome."},
        ],
    }


def write(tmp_path: Path, doc, name: str = "tasks.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return p


def paths(errors) -> set[str]:
    return {e.path for e in errors}


# ------------------------------------------------------------------------------------------- valid


def test_valid_file_loads(tmp_path):
    f = write(tmp_path, {"version": 1, "name": "mini", "tasks": [make_task("a"), make_task("b")]})
    assert validate_file(f) == []
    tasks = load_tasks(f)
    assert [t.id for t in tasks] == ["a", "b"]
    t = tasks[0]
    assert isinstance(t, Task)
    assert t.tool_names == ["get_balance"]
    assert t.turns[0].checklist[0].check.args["account"].equals == "ACC1"
    assert t.turns[0].checklist[1].dependence == ["C0"]
    assert len(t.reference_turns()) == 2
    assert [m["role"] for m in t.reference_turns()[0]] == ["user", "assistant", "tool", "assistant"]


def test_bare_list_and_jsonl_load(tmp_path):
    assert [t.id for t in load_tasks(write(tmp_path, [make_task("x")]))] == ["x"]
    jl = tmp_path / "tasks.jsonl"
    jl.write_text("\n".join(json.dumps(make_task(i)) for i in ("p", "q")) + "\n\n")
    assert [t.id for t in load_tasks(jl)] == ["p", "q"]


# ------------------------------------------------------------------------------------------- three errors


def three_error_doc() -> dict:
    task = make_task("broken")
    items = task["turns"][0]["checklist"]
    items[0]["weight"] = "heavy"  # wrong type
    items[1]["focus_on"] = "assistant.mood"  # not in the enum
    items[1]["dependence"] = ["C7"]  # unknown item id
    return {"tasks": [task]}


THREE_PATHS = {
    "$.tasks[0].turns[0].checklist[0].weight",
    "$.tasks[0].turns[0].checklist[1].focus_on",
    "$.tasks[0].turns[0].checklist[1].dependence[0]",
}


def test_three_different_errors_all_reported_with_paths(tmp_path):
    f = write(tmp_path, three_error_doc())
    errors = validate_file(f)
    assert THREE_PATHS <= paths(errors), [str(e) for e in errors]
    for e in errors:
        assert e.file == str(f)
        assert e.task_id == "broken"
    by_path = {e.path: e.message for e in errors}
    assert "heavy" in by_path["$.tasks[0].turns[0].checklist[0].weight"]
    assert "assistant.mood" in by_path["$.tasks[0].turns[0].checklist[1].focus_on"]
    assert "C7" in by_path["$.tasks[0].turns[0].checklist[1].dependence[0]"]
    with pytest.raises(TaskFileError) as exc:
        load_tasks(f)
    assert THREE_PATHS <= paths(exc.value.errors)


def test_cli_validate_reports_three_errors_exit_1(tmp_path):
    f = write(tmp_path, three_error_doc())
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        rc = cli_main(["validate", str(f)])
    assert rc == 1
    text = out.getvalue()
    for p in THREE_PATHS:
        assert p in text, text
    assert "broken" in text and str(f) in text


def test_cli_validate_subprocess(tmp_path):
    bad = write(tmp_path, three_error_doc(), "bad.json")
    good = write(tmp_path, {"tasks": [make_task()]}, "good.json")
    r = subprocess.run([sys.executable, "-m", "cm2_env.cli", "validate", str(bad)],
                       capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 1, r.stderr
    for p in THREE_PATHS:
        assert p in r.stdout
    r = subprocess.run([sys.executable, "-m", "cm2_env.cli", "validate", str(good)],
                       capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK" in r.stdout


# ------------------------------------------------------------------------------------------- semantic


def test_weights_not_summing_to_one():
    doc = {"tasks": [make_task()]}
    doc["tasks"][0]["turns"][0]["checklist"][1]["weight"] = 0.3
    errors = validate_document(doc)
    assert paths(errors) == {"$.tasks[0].turns[0].checklist"}
    assert "0.9" in errors[0].message


def test_weights_within_tolerance_are_fine():
    doc = {"tasks": [make_task()]}
    doc["tasks"][0]["turns"][0]["checklist"][1]["weight"] = 0.4 + 1e-9
    assert validate_document(doc) == []


def test_duplicate_task_ids_and_item_ids_and_tool_names():
    t1, t2 = make_task("same"), make_task("same")
    t2["turns"][0]["checklist"][1]["id"] = "C0"
    t2["turns"][0]["checklist"][1].pop("dependence")
    t2["tools"].append(copy.deepcopy(t2["tools"][0]))
    errors = validate_document({"tasks": [t1, t2]})
    ps = paths(errors)
    assert "$.tasks[1].id" in ps
    assert "$.tasks[1].turns[0].checklist[1].id" in ps
    assert "$.tasks[1].tools[1].function.name" in ps
    assert "$.tasks[0].id" not in ps  # the first occurrence is fine
    assert any("duplicate task id" in e.message for e in errors)


def test_unknown_tool_in_check():
    doc = {"tasks": [make_task()]}
    doc["tasks"][0]["turns"][0]["checklist"][0]["check"]["name"] = "get_balanse"
    errors = validate_document(doc)
    assert paths(errors) == {"$.tasks[0].turns[0].checklist[0].check.name"}
    assert "get_balanse" in errors[0].message


def test_wildcard_tool_not_called_is_not_unknown():
    doc = {"tasks": [make_task()]}
    doc["tasks"][0]["turns"][1]["checklist"] = [
        {"id": "N", "question": "no tools?", "weight": 1, "check": {"type": "tool_not_called", "name": "*"}}]
    assert validate_document(doc) == []


def test_self_dependence():
    doc = {"tasks": [make_task()]}
    doc["tasks"][0]["turns"][0]["checklist"][1]["dependence"] = ["C1"]
    assert "$.tasks[0].turns[0].checklist[1].dependence[0]" in paths(validate_document(doc))


def test_reference_turn_count_mismatch():
    doc = {"tasks": [make_task()]}
    doc["tasks"][0]["reference"] = doc["tasks"][0]["reference"][:4]
    errors = validate_document(doc)
    assert paths(errors) == {"$.tasks[0].reference"}


def test_invalid_tool_parameter_schema():
    doc = {"tasks": [make_task()]}
    doc["tasks"][0]["tools"][0]["function"]["parameters"]["properties"]["account"]["type"] = "strng"
    errors = validate_document(doc)
    assert any(e.path.startswith("$.tasks[0].tools[0].function.parameters") for e in errors), errors


def test_arg_constraint_needs_exactly_one_operator():
    doc = {"tasks": [make_task()]}
    doc["tasks"][0]["turns"][0]["checklist"][0]["check"]["args"]["account"] = {"equals": "A", "regex": "A.*"}
    errors = validate_document(doc)
    assert errors and all(e.path.startswith("$.tasks[0].turns[0].checklist[0].check") for e in errors)


def test_unknown_field_and_unknown_check_type():
    doc = {"tasks": [make_task()]}
    doc["tasks"][0]["turns"][0]["checklist"][0]["wieght"] = 0.6
    doc["tasks"][0]["turns"][0]["checklist"][1]["check"]["type"] = "reply_smells"
    ps = paths(validate_document(doc))
    assert any(p.startswith("$.tasks[0].turns[0].checklist[0]") for p in ps)
    assert any(p.startswith("$.tasks[0].turns[0].checklist[1].check") for p in ps)


def test_missing_required_fields():
    doc = {"tasks": [{"id": "nothing"}]}
    errors = validate_document(doc)
    msgs = " ".join(e.message for e in errors)
    assert "tools" in msgs and "turns" in msgs
    assert all(e.task_id == "nothing" for e in errors)


def test_parse_tasks_raises_with_every_error():
    with pytest.raises(TaskFileError) as exc:
        parse_tasks(three_error_doc(), "x.json")
    assert len(exc.value.errors) >= 3
    assert "x.json" in str(exc.value)


# ------------------------------------------------------------------------------------------- bad files


def test_bad_json_file(tmp_path):
    f = write(tmp_path, '{"tasks": [ {"id": "a", }', "broken.json")
    errors = validate_file(f)
    assert len(errors) == 1
    assert errors[0].path == "$" and "invalid JSON" in errors[0].message and errors[0].file == str(f)
    with pytest.raises(TaskFileError):
        load_tasks(f)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert cli_main(["validate", str(f)]) == 1
    assert "invalid JSON" in out.getvalue()


def test_missing_file(tmp_path):
    errors = validate_file(tmp_path / "nope.json")
    assert len(errors) == 1 and "cannot read" in errors[0].message


def test_top_level_not_a_task_file():
    assert validate_document({"version": 1}) != []
    assert validate_document("just a string") != []


# ------------------------------------------------------------------------------------------- schema sync


def test_schema_file_in_sync_with_models():
    shipped = json.loads(SCHEMA_PATH.read_text())
    assert build_schema() == shipped, "task.schema.json is stale: run python -m cm2_env.tasks.schema"


def test_schema_and_models_agree_on_a_valid_task():
    # the same document passes the JSON Schema and the pydantic models
    import jsonschema

    doc = {"version": 1, "tasks": [make_task()]}
    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text()))
    parse_tasks(doc)
