"""Files that used to crash ``cm2 validate`` (tracebacks) or validate OK and then crash the env.

Every problem must come back as a located :class:`TaskError` (file, task id when known, JSON path); only the
documented :class:`TaskFileError` may escape ``load_tasks``/``parse_tasks``; ``validate_*`` never raise.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from cm2_env.cli import main as cli_main
from cm2_env.tasks import Task, TaskFileError, from_cm2, load_tasks, parse_tasks, validate_document, validate_file
from cm2_env.tasks.loader import MAX_DEPTH

from test_loader import REPO, make_task

SAMPLE = Path(__file__).resolve().parent / "data" / "cm2_sample.json"


def by_path(errors) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in errors:
        out.setdefault(e.path, []).append(e.message)
    return out


def doc_with(mutate) -> dict:
    doc = {"tasks": [make_task()]}
    mutate(doc["tasks"][0])
    return doc


def assert_refused(tmp_path: Path, text: str | bytes, path: str, needle: str, name: str = "tasks.json") -> None:
    """validate_file reports it (located), load_tasks raises TaskFileError only, `cm2 validate` has no traceback."""
    f = tmp_path / name
    f.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    errors = validate_file(f)
    assert errors, "expected an error"
    assert all(e.file == str(f) for e in errors)
    assert path in by_path(errors), [str(e) for e in errors]
    assert any(needle in m for m in by_path(errors)[path]), [str(e) for e in errors]
    with pytest.raises(TaskFileError):
        load_tasks(f)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert cli_main(["validate", str(f)]) == 1
    assert path in out.getvalue()


# ------------------------------------------------------------------------------------------- 1. tracebacks


def test_non_utf8_file(tmp_path):
    raw = json.dumps({"tasks": [make_task()]}).encode("utf-8").replace(b"You are helpful.", b"caf\xe9 \xff")
    assert_refused(tmp_path, raw, "$", "not UTF-8")


def test_cli_validate_prints_located_errors_not_tracebacks(tmp_path):
    files = {"latin1.json": b'{"tasks": [{"id": "caf\xe9"}]}', "deep.json": b"[" * 100000}
    files["inf.json"] = json.dumps({"tasks": [make_task()]}).replace('"weight": 0.6', '"weight": 1e999').encode()
    for name, raw in files.items():
        (tmp_path / name).write_bytes(raw)
    r = subprocess.run([sys.executable, "-m", "cm2_env.cli", "validate", *map(str, sorted(tmp_path.iterdir()))],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    assert "deep.json: at $: invalid JSON: nested too deeply" in r.stdout
    assert "inf.json: task 't1' at $.tasks[0].turns[0].checklist[0].weight: weight must be a finite" in r.stdout
    assert "latin1.json: at $: not UTF-8" in r.stdout


def test_utf8_bom_is_accepted(tmp_path):
    f = tmp_path / "bom.json"
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps({"tasks": [make_task()]}).encode())
    assert validate_file(f) == []


def test_100k_deep_document(tmp_path):
    assert_refused(tmp_path, "[" * 100000, "$", "nested too deeply")
    assert_refused(tmp_path, "[" * 100000 + "]" * 100000, "$", "nested too deeply", "closed.json")


def test_deep_but_parseable_document_is_located_not_a_recursion_error(tmp_path):
    """~500 levels parse, but the schema validators recursed past the interpreter's limit."""
    deep: dict = {}
    for _ in range(300):
        deep = {"type": "object", "properties": {"x": deep}}
    doc = doc_with(lambda t: t["tools"][0]["function"].__setitem__("parameters", deep))
    errors = validate_document(doc)
    assert errors and all(e.task_id == "t1" for e in errors)
    assert all(e.path.startswith("$.tasks[0].tools[0].function.parameters.properties.x") for e in errors)
    assert any(f"deeper than {MAX_DEPTH}" in e.message for e in errors)
    f = tmp_path / "deep.json"
    f.write_text(json.dumps(doc))
    assert [(e.file, e.path, e.message) for e in validate_file(f)] == [(str(f), e.path, e.message) for e in errors]
    deep_meta = doc_with(lambda t: t.__setitem__("metadata", {"x": json.loads("[" * 900 + "]" * 900)}))
    assert any("deeper" in e.message for e in validate_document(deep_meta))


def test_circular_structure_built_in_code():
    doc = {"tasks": [make_task()]}
    doc["tasks"][0]["metadata"] = {"me": doc}
    errors = validate_document(doc)
    assert errors and any("circular" in e.message for e in errors)
    with pytest.raises(TaskFileError):
        parse_tasks(doc)


@pytest.mark.parametrize("literal", ["1e999", "-1e999"])
def test_infinite_weights_in_a_file(tmp_path, literal):
    text = json.dumps({"tasks": [make_task()]}).replace('"weight": 0.6', f'"weight": {literal}', 1)
    assert_refused(tmp_path, text, "$.tasks[0].turns[0].checklist[0].weight", "finite")


@pytest.mark.parametrize("weight", [float("inf"), float("nan"), 10**400], ids=["inf", "nan", "10**400"])
def test_non_finite_weights_in_a_document(weight):
    doc = doc_with(lambda t: t["turns"][0]["checklist"][0].__setitem__("weight", weight))
    errors = by_path(validate_document(doc))
    assert any("finite" in m for m in errors["$.tasks[0].turns[0].checklist[0].weight"]), errors


def test_finite_weights_whose_sum_overflows():
    def huge(t):
        for it in t["turns"][0]["checklist"]:
            it["weight"] = 1e308
    errors = validate_document(doc_with(huge))
    assert [e.path for e in errors] == ["$.tasks[0].turns[0].checklist"], [str(e) for e in errors]
    assert "inf" in errors[0].message


def test_nan_literal_in_a_file(tmp_path):
    text = json.dumps({"tasks": [make_task()]}).replace('"weight": 0.6', '"weight": NaN', 1)
    assert_refused(tmp_path, text, "$.tasks[0].turns[0].checklist[0].weight", "finite")


def test_integer_literal_too_long_to_convert(tmp_path):
    text = json.dumps({"tasks": [make_task()]}).replace('"weight": 0.6', '"weight": 1' + "0" * 5000, 1)
    assert_refused(tmp_path, text, "$", "invalid JSON")


def test_lone_surrogate_string(tmp_path):
    text = json.dumps({"tasks": [make_task()]}).replace("You are helpful.", "bad \\ud800 text")
    assert_refused(tmp_path, text, "$.tasks[0].system_prompt", "lone surrogate")


def test_jsonl_bad_line_is_located(tmp_path):
    text = json.dumps(make_task("a")) + "\n\n" + '{"id": "b", ' + "\n" + "[" * 100000 + "\n"
    f = tmp_path / "tasks.jsonl"
    f.write_text(text)
    errors = by_path(validate_file(f))
    assert set(errors) == {"$[1]", "$[2]"}
    assert "line 3" in errors["$[1]"][0] and "line 4" in errors["$[2]"][0]


@pytest.mark.parametrize("doc", [None, 5, "x", [None], [5], {"tasks": 5}, {"tasks": [5]}, {"tasks": [[]]},
                                 {"tasks": [{"id": 5, "tools": 5, "turns": 5}]},
                                 {"tasks": [{"id": "a", "tools": [5], "turns": [5], "reference": [5],
                                             "checklist_variants": [5, [5], [[5]]], "metadata": 5}]},
                                 {"messages": 5, "tools": 5, "checklists": 5},
                                 [{"messages": [5], "tools": [], "checklists": [[5]]}]])
def test_garbage_never_raises(doc):
    errors = validate_document(doc)
    assert errors
    assert not any("internal error" in e.message for e in errors), [str(e) for e in errors]
    with pytest.raises(TaskFileError):
        parse_tasks(doc)


# ------------------------------------------------------------------------------------------- 2. env crashes


def _params(t: dict) -> dict:
    return t["tools"][0]["function"]["parameters"]


def test_unresolvable_ref_in_tool_parameters():
    doc = doc_with(lambda t: _params(t)["properties"].__setitem__("account", {"$ref": "#/nowhere"}))
    errors = by_path(validate_document(doc))
    assert list(errors) == ["$.tasks[0].tools[0].function.parameters.properties.account.$ref"]
    assert "#/nowhere" in errors["$.tasks[0].tools[0].function.parameters.properties.account.$ref"][0]
    with pytest.raises(TaskFileError):
        parse_tasks(doc)


@pytest.mark.parametrize("schema, where", [
    ({"$ref": "https://example.com/schemas/account.json"}, "properties.account.$ref"),
    ({"$ref": "#/required"}, "properties.account.$ref"),
    ({"$ref": "#/$defs/missing"}, "properties.account.$ref"),
    ({"items": {"$ref": "#/nope"}}, "properties.account.items.$ref"),
    ({"$ref": "#anchor"}, "properties.account.$ref"),
    ({"$dynamicRef": "#meta"}, "properties.account.$dynamicRef"),
    ({"$id": "http://[bad", "$ref": "#/x"}, "properties.account.$ref"),
])
def test_other_bad_refs(schema, where):
    doc = doc_with(lambda t: _params(t)["properties"].__setitem__("account", schema))
    assert f"$.tasks[0].tools[0].function.parameters.{where}" in by_path(validate_document(doc))


def test_id_that_is_not_a_uri():
    params = {"$id": "http://[bad", "type": "object", "properties": {"a": {"$ref": "#/x"}}}
    doc = doc_with(lambda t: t["tools"][0]["function"].__setitem__("parameters", params))
    assert list(by_path(validate_document(doc))) == ["$.tasks[0].tools[0].function.parameters.$id"]


def test_ref_loop_that_never_descends():
    doc = doc_with(lambda t: t["tools"][0]["function"].__setitem__("parameters", {"$ref": "#"}))
    assert "$.tasks[0].tools[0].function.parameters.$ref" in by_path(validate_document(doc))
    doc = doc_with(lambda t: t["tools"][0]["function"].__setitem__(
        "parameters", {"$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"$ref": "#/$defs/a"}},
                       "$ref": "#/$defs/a"}))
    assert validate_document(doc), "a -> b -> a loop"


def test_good_refs_still_validate():
    tree = {"type": "object", "$defs": {"node": {"type": "object", "properties": {
        "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
        "properties": {"account": {"$ref": "#/$defs/acc"}, "tree": {"$ref": "#/$defs/node"},
                       "meta": {"$ref": "https://json-schema.org/draft/2020-12/schema"}},
        "required": ["account"]}
    tree["$defs"]["acc"] = {"type": "string"}
    assert validate_document(doc_with(lambda t: t["tools"][0]["function"].__setitem__("parameters", tree))) == []


def test_boolean_parameters_are_refused():
    doc = doc_with(lambda t: t["tools"][0]["function"].__setitem__("parameters", True))
    assert "$.tasks[0].tools[0].function.parameters" in by_path(validate_document(doc))


@pytest.mark.parametrize("reveal, path", [
    (["get_balance"], "$.tasks[0].metadata.tools_available_from_turn"),
    (None, "$.tasks[0].metadata.tools_available_from_turn"),
    ({"get_balance": "x"}, "$.tasks[0].metadata.tools_available_from_turn.get_balance"),
    ({"get_balance": -1}, "$.tasks[0].metadata.tools_available_from_turn.get_balance"),
    ({"get_balance": 1.5}, "$.tasks[0].metadata.tools_available_from_turn.get_balance"),
    ({"get_balance": True}, "$.tasks[0].metadata.tools_available_from_turn.get_balance"),
    ({"transfer": 1}, "$.tasks[0].metadata.tools_available_from_turn.transfer"),
])
def test_malformed_tools_available_from_turn(reveal, path):
    doc = doc_with(lambda t: t.__setitem__("metadata", {"tools_available_from_turn": reveal}))
    errors = validate_document(doc)
    assert [e.path for e in errors] == [path], [str(e) for e in errors]
    assert errors[0].task_id == "t1"
    with pytest.raises(ValidationError, match="tools_available_from_turn"):  # code-built tasks are refused too
        Task.model_validate(doc["tasks"][0])


def test_well_formed_tools_available_from_turn():
    doc = doc_with(lambda t: t.__setitem__("metadata", {"tools_available_from_turn": {"get_balance": 1}}))
    assert validate_document(doc) == []
    task = parse_tasks(doc)[0]
    assert task.tools_for_turn(0) == [] and len(task.tools_for_turn(1)) == 1


def test_dependence_cycle_two_items():
    doc = doc_with(lambda t: t["turns"][0]["checklist"][0].__setitem__("dependence", ["C1"]))
    errors = validate_document(doc)
    assert [e.path for e in errors] == ["$.tasks[0].turns[0].checklist[0].dependence"], [str(e) for e in errors]
    assert "cycle" in errors[0].message and "C0" in errors[0].message and "C1" in errors[0].message
    with pytest.raises(ValidationError, match="cycle"):
        Task.model_validate(doc["tasks"][0])


def test_dependence_cycle_three_items_and_a_chain_that_is_fine():
    def three(t):
        items = t["turns"][0]["checklist"]
        items[0]["weight"] = items[1]["weight"] = 0.3
        items.append({"id": "C2", "question": "?", "weight": 0.4, "dependence": ["C1"]})
        items[0]["dependence"] = ["C2"]
    paths = [e.path for e in validate_document(doc_with(three))]
    assert paths == ["$.tasks[0].turns[0].checklist[0].dependence"]

    def chain(t):
        three(t)
        t["turns"][0]["checklist"][0]["dependence"] = []
    assert validate_document(doc_with(chain)) == []


@pytest.mark.parametrize("check, path", [
    ({"type": "reply_matches", "regex": "(unclosed"}, "$.tasks[0].turns[0].checklist[1].check.regex"),
    ({"type": "tool_called", "name": "get_balance", "args": {"account": {"regex": "[z-a]"}}},
     "$.tasks[0].turns[0].checklist[1].check.args.account.regex"),
])
def test_uncompilable_regex_is_located(check, path):
    doc = doc_with(lambda t: t["turns"][0]["checklist"][1].__setitem__("check", check))
    errors = validate_document(doc)
    assert [e.path for e in errors] == [path], [str(e) for e in errors]
    assert "regex" in errors[0].message and errors[0].task_id == "t1"


@pytest.mark.parametrize("call, path", [
    ({}, "$.tasks[0].reference[1].tool_calls[0]"),
    ({"function": {"arguments": "{}"}}, "$.tasks[0].reference[1].tool_calls[0].function.name"),
    ({"function": {"name": "get_balance", "arguments": "[1]"}}, "$.tasks[0].reference[1].tool_calls[0].function.arguments"),
    ({"function": {"name": "get_balance", "arguments": "{"}}, "$.tasks[0].reference[1].tool_calls[0].function.arguments"),
    ({"function": {"name": "get_balance", "arguments": 5}}, "$.tasks[0].reference[1].tool_calls[0].function.arguments"),
    ({"function": {"name": "get_balance", "arguments": {"account": "ACC1"}}},
     "$.tasks[0].reference[1].tool_calls[0].function.arguments"),
])
def test_reference_tool_calls_must_be_replayable(call, path):
    doc = doc_with(lambda t: t["reference"][1].__setitem__("tool_calls", [call]))
    assert path in by_path(validate_document(doc)), [str(e) for e in validate_document(doc)]


# ------------------------------------------------------------------------------------------- 3. CM2 records


@pytest.fixture
def cm2_doc() -> list[dict]:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


UUID = "sample-library-0001"


def test_cm2_too_many_checklist_turns(cm2_doc):
    v0 = cm2_doc[0]["checklists"][0]
    v0 += [copy.deepcopy(v0[0]), copy.deepcopy(v0[1])]  # 5 checklist turns, 3 user messages
    errors = validate_document(cm2_doc, "cm2.json")
    assert [(e.path, e.task_id, e.file) for e in errors] == [("$[0].checklists[0][3]", UUID, "cm2.json")]
    assert "5" in errors[0].message and "3" in errors[0].message


def test_cm2_too_few_checklist_turns_in_any_variant(cm2_doc):
    cm2_doc[0]["checklists"][0] = cm2_doc[0]["checklists"][0][:1]  # 1 for 3
    cm2_doc[0]["checklists"][1] = cm2_doc[0]["checklists"][1][:2]  # a non-active variant: 2 for 3
    errors = validate_document(cm2_doc)
    assert {e.path for e in errors} == {"$[0].checklists[0][1]", "$[0].checklists[1][2]"}
    assert all(e.task_id == UUID for e in errors)
    with pytest.raises(ValidationError, match="checklist variant"):  # from_cm2 refuses it too
        from_cm2(cm2_doc[0])


def test_cm2_errors_are_located_in_the_record(cm2_doc):
    cm2_doc[0]["checklists"][0][1][0]["weight"] = "heavy"
    cm2_doc[0]["checklists"][1][1][0]["dependence"] = ["X9"]  # a non-active variant is checked too
    cm2_doc[0]["messages"][4]["content"] = 5  # the second user message
    cm2_doc[0]["tools"][1]["function"]["parameters"]["properties"]["days"] = {"$ref": "#/nowhere"}
    cm2_doc[1]["checklists"][0][0][1]["weight"] = 1e999
    errors = validate_document(cm2_doc)
    got = {(e.path, e.task_id) for e in errors}
    assert got == {
        ("$[0].checklists[0][1][0].weight", UUID),
        ("$[0].checklists[1][1][0].dependence[0]", UUID),
        ("$[0].messages[4].content", UUID),
        ("$[0].tools[1].function.parameters.properties.days.$ref", UUID),
        ("$[1].checklists[0][0][1].weight", "sample-weather-0002"),
    }, [str(e) for e in errors]


def test_cm2_single_record_paths_and_files(tmp_path, cm2_doc):
    rec = cm2_doc[1]
    rec["checklists"][0][0][0]["weight"] = -1e999
    f = tmp_path / "one.json"
    f.write_text(json.dumps(rec))
    errors = validate_file(f)
    assert {e.path for e in errors} == {"$.checklists[0][0][0].weight"}
    assert {e.task_id for e in errors} == {"sample-weather-0002"}
    assert any("finite" in e.message for e in errors)
    with pytest.raises(TaskFileError):
        load_tasks(f)


def test_cm2_record_with_a_broken_shape(cm2_doc):
    cm2_doc[0]["messages"] = "hello"
    cm2_doc[1]["checklists"] = [[{"id": "C0"}]]
    errors = validate_document(cm2_doc)
    assert {e.path for e in errors} == {"$[0].messages", "$[1].checklists[0][0]"}
    assert {e.task_id for e in errors} == {UUID, "sample-weather-0002"}
