"""BFCL loader: schemas, call parsing, task conversion and the category peculiarities."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("bfcl_eval", reason="needs bfcl-eval: scripts/install_bfcl_env.sh .venv-bfcl")

import jsonschema  # noqa: E402

from cm2_env.benchmarks.bfcl import _bfcl  # noqa: E402
from cm2_env.benchmarks.bfcl.calls import CallParseError, bind_arguments, parse_call, render_call  # noqa: E402
from cm2_env.benchmarks.bfcl.checklist import RESPONSE_ITEM_ID, STATE_ITEM_ID  # noqa: E402
from cm2_env.benchmarks.bfcl.env import bfcl_tasks  # noqa: E402
from cm2_env.benchmarks.bfcl.executor import BFCLInstances  # noqa: E402
from cm2_env.benchmarks.bfcl.loader import load_category, widen_for_ground_truth  # noqa: E402
from cm2_env.benchmarks.bfcl.schema import bfcl_doc_to_tool  # noqa: E402
from cm2_env.tasks.loader import validate_document  # noqa: E402
from cm2_env.tools.validation import ToolSet  # noqa: E402
from cm2_env.types import ToolCall  # noqa: E402

CLASSES = ["GorillaFileSystem", "MathAPI", "MessageAPI", "TwitterAPI", "TicketAPI", "TradingBot", "TravelAPI",
           "VehicleControlAPI"]


# ----------------------------------------------------------------------------------------- schemas


@pytest.mark.parametrize("cls", CLASSES)
def test_every_func_doc_converts_to_a_valid_draft_2020_12_schema(cls):
    for doc in _bfcl.func_docs(cls):
        tool = bfcl_doc_to_tool(doc)
        params = tool["function"]["parameters"]
        jsonschema.Draft202012Validator.check_schema(params)
        assert params["type"] == "object"
        assert tool["function"]["name"] == doc["name"]
        text = json.dumps(params)
        for bad in ('"dict"', '"float"', '"tuple"', '"any"'):
            assert f'"type": {bad}' not in text


def test_schema_conversion_maps_bfcl_types():
    doc = {"name": "f", "description": "d", "parameters": {"type": "dict", "required": ["x"], "properties": {
        "x": {"type": "float", "description": "a float"},
        "t": {"type": "tuple", "items": {"type": "integer"}, "description": "pair"},
        "d": {"type": "dict", "properties": {"k": {"type": "float", "description": "k"}}, "description": "nested"},
        "o": {"type": "string", "description": "optional", "default": None},
    }}}
    p = bfcl_doc_to_tool(doc)["function"]["parameters"]
    assert p["properties"]["x"] == {"type": "number", "format": "float", "description": "a float This is a float type value."}
    assert p["properties"]["t"]["type"] == "array" and p["properties"]["t"]["items"] == {"type": "integer"}
    assert p["properties"]["d"]["type"] == "object" and p["properties"]["d"]["properties"]["k"]["type"] == "number"
    assert p["properties"]["o"]["type"] == ["string", "null"]
    v = jsonschema.Draft202012Validator(p)
    assert v.is_valid({"x": 1, "o": None}) and not v.is_valid({"x": "1"}) and not v.is_valid({})


def test_widen_for_ground_truth_admits_the_value_and_reports_it():
    params = {"type": "object", "properties": {"ticket_id": {"type": "integer"}}}
    patches = widen_for_ground_truth(params, {"ticket_id": "ticket_001"})
    assert params["properties"]["ticket_id"]["type"] == ["integer", "string"]
    assert patches == [{"path": "ticket_id", "from": "integer", "to": ["integer", "string"]}]
    assert widen_for_ground_truth(params, {"ticket_id": 3}) == []


# ------------------------------------------------------------------------------------- call strings


def test_parse_call_keywords_positional_and_literals():
    c = parse_call("mv(source='a.txt', destination='b')")
    assert (c.name, c.args, c.kwargs) == ("mv", (), {"source": "a.txt", "destination": "b"})
    c = parse_call("sort('final_report.pdf')")
    assert c.args == ("final_report.pdf",)
    c = parse_call("f(x=[1, -2.5, {'a': (1, 2)}], y=None, z=True)")
    assert c.kwargs == {"x": [1, -2.5, {"a": (1, 2)}], "y": None, "z": True}


@pytest.mark.parametrize("text", [
    "__import__('os').system('echo hi')",
    "os.system('ls')",
    "f(x=open('/etc/passwd'))",
    "f(x=1+1)",
    "f(**{'a': 1})",
    "f(x=y)",
    "not a call",
    "f(x=(lambda: 1)())",
])
def test_parse_call_rejects_anything_but_literal_calls(text):
    with pytest.raises(CallParseError):
        parse_call(text)


def test_bind_positional_arguments_by_signature_and_render_like_bfcl():
    inst = BFCLInstances(["GorillaFileSystem"], {}, False)
    args = bind_arguments(parse_call("sort('final_report.pdf')"), inst.method("sort"))
    assert args == {"file_name": "final_report.pdf"}
    assert render_call("mv", {"source": "a", "destination": "b"}) == "mv(source='a',destination='b')"
    assert render_call("f", {"x": [1, True, None]}) == "f(x=[1, True, None])"
    with pytest.raises(CallParseError):
        render_call("__import__('os').system", {})
    assert render_call("f", {"": None, "class": 1}) == "f(**{'': None, 'class': 1})"


# ------------------------------------------------------------------------------------ task conversion


@pytest.mark.parametrize("category", _bfcl.CATEGORIES)
def test_category_converts_and_validates_with_the_task_schema(category):
    tasks = bfcl_tasks(category)
    assert len(tasks) == 200 == len({t.id for t in tasks})
    sample = tasks[::10]
    doc = {"tasks": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in sample]}
    assert validate_document(doc) == []
    for task in tasks:
        gt = task.metadata["bfcl"]["ground_truth"]
        assert len(task.turns) == len(gt) == len(task.reference_turns())
        assert task.metadata["bfcl"]["long_context"] is (category == "long_context")
        for t, turn in enumerate(task.turns):
            ids = [it.id for it in turn.checklist]
            assert ids[-1] == STATE_ITEM_ID and abs(sum(it.weight for it in turn.checklist) - 1) < 1e-6
            assert all(it.check is not None for it in turn.checklist)  # every item is programmatic
            outcome = [it.check.type for it in turn.checklist if it.check.type.startswith("bfcl_")]
            checked = [it for it in turn.checklist if not it.check.type.startswith("bfcl_")]
            if gt[t]:
                assert all(it.check.type == "tool_called" for it in checked)
                assert sum(it.check.min_count for it in checked) == len(gt[t])
                assert outcome == ["bfcl_response", "bfcl_state"] and ids[-2:] == [RESPONSE_ITEM_ID, STATE_ITEM_ID]
            else:
                assert [it.check.type for it in checked] == ["tool_not_called"] and outcome == ["bfcl_state"]


@pytest.mark.parametrize("category", _bfcl.CATEGORIES)
def test_reference_calls_pass_validation_and_match_the_ground_truth(category):
    for task in bfcl_tasks(category):
        toolset = ToolSet(task.tools)
        gt = task.metadata["bfcl"]["ground_truth"]
        for t, turn in enumerate(task.reference_turns()):
            calls = [tc for m in turn if m["role"] == "assistant" for tc in m.get("tool_calls") or []]
            assert [tc["function"]["name"] for tc in calls] == [parse_call(s).name for s in gt[t]]
            for tc in calls:
                args = json.loads(tc["function"]["arguments"])
                assert toolset.check(ToolCall(tc["id"], tc["function"]["name"], args, tc["function"]["arguments"])) is None
            assert turn[-1]["role"] == "assistant" and not turn[-1].get("tool_calls")
            assert sum(1 for m in turn if m["role"] == "assistant" and m.get("tool_calls")) <= 19


def test_reference_tool_results_are_real_executions():
    task = load_category("base", ids=["multi_turn_base_0"])[0]
    tool_msgs = [m for m in task.reference if m.role == "tool"]
    by_name = {m.name: m.content for m in tool_msgs}
    assert "budget analysis" in by_name["grep"]
    assert by_name["mkdir"] == "None"  # bfcl-eval renders a None return as str(None)
    assert "final_report.pdf" in by_name["diff"] or "diff_lines" in by_name["diff"]
    assert not any(m.content.startswith("Error during execution") for m in tool_msgs)


def test_miss_func_hides_functions_until_the_reveal_turn():
    task = load_category("miss_func", ids=["multi_turn_miss_func_0"])[0]
    assert task.metadata["bfcl"]["missed_function"] == {"3": ["sort"]}
    assert task.metadata["tools_available_from_turn"] == {"sort": 3}
    assert "sort" in task.tool_names  # declared (checklists may name it); the env hides it until turn 3
    assert task.turns[3].user == _bfcl.additional_function_prompt()
    assert [it.check.type for it in task.turns[2].checklist] == ["tool_not_called", "bfcl_state"]
    assert [it.check.name for it in task.turns[3].checklist if it.check.type == "tool_called"] == ["sort"]


def test_miss_func_ground_truth_using_a_function_early_moves_its_reveal():
    task = load_category("miss_func", ids=["multi_turn_miss_func_49"])[0]
    assert task.metadata["tools_available_from_turn"]["tail"] == 1
    assert task.metadata["tools_available_from_turn"]["wc"] == 3
    assert task.metadata["bfcl"]["reveal_patches"] == [{"tool": "tail", "declared_turn": 3, "used_turn": 1}]


def test_miss_param_turn_expects_a_question_not_a_call():
    task = load_category("miss_param", ids=["multi_turn_miss_param_1"])[0]
    empty = [t for t, g in enumerate(task.metadata["bfcl"]["ground_truth"]) if not g]
    assert empty == [3]
    ref = task.reference_turns()[3]
    assert [m["role"] for m in ref] == ["user", "assistant"] and "?" in ref[1]["content"]
    assert task.turns[3].checklist[0].check.type == "tool_not_called" and task.turns[3].checklist[0].check.name == "*"


def test_schema_patch_for_ground_truth_that_violates_its_doc():
    task = load_category("base", ids=["multi_turn_base_173"])[0]
    assert task.metadata["bfcl"]["schema_patches"] == [
        {"tool": "close_ticket", "path": "ticket_id", "from": "integer", "to": ["integer", "string"]}]
    other = load_category("base", ids=["multi_turn_base_172"])[0]
    assert other.metadata["bfcl"]["schema_patches"] == []


def test_long_turns_group_same_function_calls_to_fit_the_step_limit():
    task = load_category("long_context", ids=["multi_turn_long_context_38"])[0]
    turn0 = task.reference_turns()[0]
    assistant = [m for m in turn0 if m["role"] == "assistant"]
    assert sum(len(m.get("tool_calls") or []) for m in assistant) == 34
    assert len(assistant) <= 20
    # evidence points at the assistant message that makes the call
    for item in [it for it in task.turns[0].checklist if it.check.type == "tool_called"]:
        for ev in item.evidence:
            msg = turn0[ev.step]
            assert msg["role"] == "assistant" and any(tc["function"]["name"] == item.check.name for tc in msg["tool_calls"])


def test_checklist_constraints_skip_defaults_and_use_exact_when_everything_is_pinned():
    task = load_category("base", ids=["multi_turn_base_0"])[0]
    items = {it.check.name: it.check for it in task.turns[0].checklist if it.check.type == "tool_called"}
    assert items["cd"].args["folder"].equals == "document"
    assert items["cd"].match == "exact"  # cd has one parameter, pinned
    ls_task = load_category("base", ids=["multi_turn_base_1"])[0]
    ls = [it.check for it in ls_task.turns[0].checklist if it.check.type == "tool_called"][0]
    assert ls.name == "ls" and ls.args["a"].equals is True


def test_resource_limits_reject_pathological_math_arguments():
    task = next(t for t in bfcl_tasks("base") if "MathAPI" in t.metadata["bfcl"]["involved_classes"])
    toolset = ToolSet(task.tools)
    for name, args in [("power", {"base": 10, "exponent": 10**9}), ("logarithm", {"value": 2, "base": 10, "precision": 10**8}),
                       ("square_root", {"number": 2, "precision": 10**8})]:
        rejected = toolset.check(ToolCall("c", name, args, json.dumps(args)))
        assert rejected is not None and rejected.error == "invalid_arguments"
    ok = {"base": 2, "exponent": 10}
    assert toolset.check(ToolCall("c", "power", ok, json.dumps(ok))) is None
