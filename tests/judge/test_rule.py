"""The rule engine over the built-in check types: every operator, the precise text semantics, the step that
satisfied an item."""

from __future__ import annotations

import json

import pytest

from cm2_env.judge.base import TurnJudgeRequest
from cm2_env.judge.checks import TurnView
from cm2_env.judge.checks.matching import constraint_holds
from cm2_env.judge.rule import RuleJudge
from cm2_env.tasks.models import ArgConstraint, ChecklistItem, Task

TASK = Task.model_validate({
    "id": "rule", "turns": [{"user": "u"}],
    "tools": [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
              for n in ("search", "book", "pay", "notify")],
})


def tc(cid, name, args):
    return {"id": cid, "type": "function",
            "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}


# step 0 user, 1 assistant(search), 2 tool, 3 assistant(book x2), 4 tool, 5 tool, 6 assistant(pay), 7 tool, 8 final
TURN = [
    {"role": "user", "content": "Find and book two rooms in Paris"},
    {"role": "assistant", "content": "<think>maybe Lyon? REFUND</think>Searching.",
     "tool_calls": [tc("a", "search", {"city": "Paris", "nights": 2, "max_price": 120.0, "flex": True})]},
    {"role": "tool", "tool_call_id": "a", "name": "search", "content": '{"hotels": ["H1", "H2"], "currency": "EUR"}'},
    {"role": "assistant", "content": "Booking both.",
     "tool_calls": [tc("b", "book", {"hotel": "H1", "room": 101}), tc("c", "book", {"hotel": "H2", "room": 7})]},
    {"role": "tool", "tool_call_id": "b", "content": '{"booking": "BK-1", "status": "confirmed"}'},
    {"role": "tool", "tool_call_id": "c", "content": '{"booking": "BK-2", "status": "Confirmed"}'},
    {"role": "assistant", "content": "Paying.", "tool_calls": [tc("d", "pay", '{"amount": 240, "card": "****1234"}')]},
    {"role": "tool", "tool_call_id": "d", "content": '{"error": "card declined"}'},
    {"role": "assistant", "content": "<think>should I say sorry?</think>Both rooms are booked (BK-1, BK-2), "
                                     "but the payment was declined."},
]


def judge(check: dict | None, messages=TURN):
    item = ChecklistItem.model_validate({"id": "X", "question": "q", "weight": 1.0, "check": check})
    req = TurnJudgeRequest(TASK, 0, [item], messages, [])
    return RuleJudge().judge_sync(req)["X"]


def passes(check, messages=TURN) -> bool:
    v = judge(check, messages)
    assert v.status in ("passed", "failed"), v
    return v.status == "passed"


# ------------------------------------------------------------------------------------------- tool_called


def test_tool_called_by_name_and_step():
    v = judge({"type": "tool_called", "name": "search"})
    assert v.status == "passed" and v.step == 1 and v.source == "rule"
    v = judge({"type": "tool_called", "name": "pay"})
    assert v.status == "passed" and v.step == 6
    v = judge({"type": "tool_called", "name": "notify"})
    assert v.status == "failed" and v.step is None and "notify" in v.rationale


@pytest.mark.parametrize(
    "constraint, ok",
    [
        ({"equals": "Paris"}, True),
        ({"equals": "paris"}, False),
        ({"one_of": ["Lyon", "Paris"]}, True),
        ({"one_of": ["Lyon", "Nice"]}, False),
        ({"regex": "Par.s"}, True),
        ({"regex": "Par"}, False),  # full match, not search
        ({"contains": "ARI"}, True),  # case-insensitive
        ({"contains": "Lyon"}, False),
        ({"present": True}, True),
        ({"present": False}, False),
    ],
)
def test_string_constraints(constraint, ok):
    assert passes({"type": "tool_called", "name": "search", "args": {"city": constraint}}) is ok


@pytest.mark.parametrize(
    "arg, constraint, ok",
    [
        ("nights", {"equals": 2.0}, True),  # 2 == 2.0
        ("nights", {"equals": 3}, False),
        ("max_price", {"equals": 120}, True),
        ("max_price", {"approx": 119.99, "tol": 0.05}, True),
        ("max_price", {"approx": 119.9, "tol": 0.05}, False),
        ("max_price", {"approx": 120}, True),  # default tolerance
        ("nights", {"one_of": [1, 2.0]}, True),
        ("nights", {"regex": "[0-9]"}, True),  # non-strings compared as JSON text
        ("flex", {"equals": True}, True),
        ("flex", {"equals": 1}, False),  # a bool is not a number
        ("nights", {"equals": True}, False),
        ("flex", {"approx": 1}, False),
        ("missing", {"present": False}, True),
        ("missing", {"equals": None}, False),  # absent is not null
        ("missing", {"regex": ".*"}, False),
    ],
)
def test_typed_constraints(arg, constraint, ok):
    assert passes({"type": "tool_called", "name": "search", "args": {arg: constraint}}) is ok


def test_constraint_holds_directly():
    assert constraint_holds(ArgConstraint(equals=None), True, None)
    assert not constraint_holds(ArgConstraint(equals=None), False, None)
    assert constraint_holds(ArgConstraint(equals={"a": [1, 2]}), True, {"a": [1.0, 2]})
    assert not constraint_holds(ArgConstraint(equals={"a": [1, 2]}), True, {"a": [1, 2], "b": 0})
    assert constraint_holds(ArgConstraint(contains="x"), True, {"k": "X"})


def test_all_argument_constraints_must_hold_on_one_call():
    assert passes({"type": "tool_called", "name": "book",
                   "args": {"hotel": {"equals": "H2"}, "room": {"equals": 7}}})
    # H1 is on one call and room 7 on the other: no single call matches
    assert not passes({"type": "tool_called", "name": "book",
                       "args": {"hotel": {"equals": "H1"}, "room": {"equals": 7}}})


def test_match_exact():
    full = {"city": {"equals": "Paris"}, "nights": {"equals": 2}, "max_price": {"approx": 120},
            "flex": {"present": True}}
    assert passes({"type": "tool_called", "name": "search", "args": full, "match": "exact"})
    partial = {"city": {"equals": "Paris"}}
    assert passes({"type": "tool_called", "name": "search", "args": partial, "match": "subset"})
    assert not passes({"type": "tool_called", "name": "search", "args": partial, "match": "exact"})


def test_after_orders_calls_within_the_turn():
    assert passes({"type": "tool_called", "name": "book", "after": ["search"]})
    assert passes({"type": "tool_called", "name": "pay", "after": ["search", "book"]})
    assert not passes({"type": "tool_called", "name": "search", "after": ["book"]})
    assert not passes({"type": "tool_called", "name": "book", "after": ["notify"]})


def test_after_same_step_order():
    # a call to the same tool earlier in the same message counts as before
    msgs = [{"role": "user", "content": "u"},
            {"role": "assistant", "content": "", "tool_calls": [tc("1", "book", {}), tc("2", "search", {})]}]
    assert not passes({"type": "tool_called", "name": "book", "after": ["search"]}, msgs)
    assert passes({"type": "tool_called", "name": "search", "after": ["book"]}, msgs)


def test_min_count_and_step_of_nth_match():
    v = judge({"type": "tool_called", "name": "book", "min_count": 2})
    assert v.status == "passed" and v.step == 3
    assert not passes({"type": "tool_called", "name": "book", "min_count": 3})
    assert not passes({"type": "tool_called", "name": "book", "min_count": 2, "args": {"hotel": {"equals": "H1"}}})


def test_unparseable_arguments_never_match():
    msgs = [{"role": "user", "content": "u"},
            {"role": "assistant", "content": "", "tool_calls": [tc("1", "search", "{not json")]}]
    # with any argument constraint (even `present: false`) a call with unknown arguments cannot match
    assert not passes({"type": "tool_called", "name": "search", "args": {"city": {"present": False}}}, msgs)


def test_unparseable_arguments_name_only_check():
    msgs = [{"role": "user", "content": "u"},
            {"role": "assistant", "content": "", "tool_calls": [tc("1", "search", "{not json")]}]
    # the call was not made with valid arguments: a name-only tool_called check must not pass on it
    assert not passes({"type": "tool_called", "name": "search"}, msgs)


def test_thinking_calls_are_not_calls():
    msgs = [{"role": "user", "content": "u"},
            {"role": "assistant", "content": '<think><tool_call>{"name": "pay", "arguments": {}}</tool_call></think>'
                                             "No payment needed."}]
    assert not passes({"type": "tool_called", "name": "pay"}, msgs)


# ------------------------------------------------------------------------------------------- tool_not_called


def test_tool_not_called():
    assert passes({"type": "tool_not_called", "name": "notify"})
    v = judge({"type": "tool_not_called", "name": "pay"})
    assert v.status == "failed" and v.step == 6
    assert not passes({"type": "tool_not_called", "name": "*"})
    assert passes({"type": "tool_not_called", "name": "*"}, TURN[:1] + TURN[-1:])
    # with args: only calls meeting them count
    assert passes({"type": "tool_not_called", "name": "book", "args": {"hotel": {"equals": "H9"}}})
    v = judge({"type": "tool_not_called", "name": "book", "args": {"room": {"equals": 7}}})
    assert v.status == "failed" and v.step == 3


# ------------------------------------------------------------------------------------------- reply_matches


@pytest.mark.parametrize(
    "check, ok",
    [
        ({"any": ["BK-9", "bk-2"]}, True),  # case-insensitive by default
        ({"any": ["BK-9", "refund"]}, False),  # text inside <think> is not a reply
        ({"all": ["BK-1", "BK-2", "declined"]}, True),
        ({"all": ["BK-1", "refunded"]}, False),
        ({"none": ["sorry"]}, True),  # "sorry" only in thinking
        ({"none": ["searching"]}, False),  # a non-final reply counts too
        ({"regex": r"BK-\d+, BK-\d+"}, True),
        ({"regex": r"^Both"}, True),
        ({"regex": r"BK-3"}, False),
        ({"any": ["bk-1"], "case_sensitive": True}, False),
        ({"any": ["BK-1"], "case_sensitive": True}, True),
        ({"regex": "both rooms", "case_sensitive": True}, False),
        ({"regex": "both rooms"}, True),
        ({"any": ["BK-1"], "none": ["declined"]}, False),
    ],
)
def test_reply_matches(check, ok):
    assert passes({"type": "reply_matches", **check}) is ok


def test_reply_matches_final_only_and_step():
    v = judge({"type": "reply_matches", "any": ["Booking both"]})
    assert v.status == "passed" and v.step == 3
    assert not passes({"type": "reply_matches", "any": ["Booking both"], "final_only": True})
    v = judge({"type": "reply_matches", "any": ["declined"], "final_only": True})
    assert v.status == "passed" and v.step == 8
    assert passes({"type": "reply_matches", "none": ["searching"], "final_only": True})
    v = judge({"type": "reply_matches", "none": ["paying"]})
    assert v.status == "failed" and v.step == 6


def test_reply_matches_without_a_final_reply():
    msgs = TURN[:3]  # the turn ended on tool work (e.g. truncated)
    assert not passes({"type": "reply_matches", "any": ["searching"], "final_only": True}, msgs)
    assert passes({"type": "reply_matches", "any": ["searching"]}, msgs)


# ------------------------------------------------------------------------------------------- tool_result_matches


def test_tool_result_matches_with_name_and_step():
    v = judge({"type": "tool_result_matches", "any": ["BK-2"]})
    assert v.status == "passed" and v.step == 5
    v = judge({"type": "tool_result_matches", "name": "book", "all": ["confirmed", "BK-1"]})
    assert v.status == "passed" and v.step == 4  # name resolved through tool_call_id
    assert not passes({"type": "tool_result_matches", "name": "search", "any": ["BK-1"]})
    assert passes({"type": "tool_result_matches", "name": "search", "regex": r'"H\d"'})
    assert not passes({"type": "tool_result_matches", "name": "book", "any": ["confirmed"], "case_sensitive": True,
                       "none": ["Confirmed"]})
    assert not passes({"type": "tool_result_matches", "none": ["declined"]})
    assert passes({"type": "tool_result_matches", "name": "book", "none": ["declined"]})
    assert not passes({"type": "tool_result_matches", "name": "notify", "any": ["x"]})


# ------------------------------------------------------------------------------------------- judge plumbing


def test_uncompilable_regex_is_a_located_validation_error():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="invalid regex"):
        judge({"type": "reply_matches", "regex": "(unclosed"})
    with pytest.raises(ValidationError, match=r"args\.city\.regex"):
        judge({"type": "tool_called", "name": "search", "args": {"city": {"regex": "[z-a]"}}})


@pytest.mark.parametrize("check, text", [
    ({"type": "reply_matches", "regex": "(a|aa)+$"}, "a" * 5000 + "!"),
    ({"type": "tool_called", "name": "search", "args": {"city": {"regex": "(a|aa)+"}}}, "a" * 5000 + "b"),
])
def test_catastrophic_regex_is_an_error_verdict_within_the_budget(check, text):
    import time

    messages = [{"role": "user", "content": "u"},
                {"role": "assistant", "content": "", "tool_calls": [tc("1", "search", {"city": text})]},
                {"role": "tool", "tool_call_id": "1", "content": "{}"},
                {"role": "assistant", "content": text}]
    t0 = time.perf_counter()
    v = judge(check, messages)
    assert time.perf_counter() - t0 < 5  # the budget is 100 ms; the margin is for a loaded machine
    assert v.status == "error" and "timed out" in v.rationale and "100 ms" in v.rationale


def test_item_without_check_is_unjudged():
    v = judge(None)
    assert v.status == "unjudged" and v.source == "none"


async def test_async_judge_turn_and_one_verdict_per_item():
    items = [ChecklistItem.model_validate({"id": f"I{i}", "question": "q", "weight": 0.5, "check": c})
             for i, c in enumerate([{"type": "tool_called", "name": "pay"}, None])]
    out = await RuleJudge().judge_turn(TurnJudgeRequest(TASK, 0, items, TURN, []))
    assert set(out) == {"I0", "I1"}
    assert out["I0"].status == "passed" and out["I1"].status == "unjudged"
    d = out["I0"].to_dict()
    assert d == {"id": "I0", "status": "passed", "step": 6, "rationale": d["rationale"], "source": "rule",
                 "counted": True}


def test_turn_view_digest():
    view = TurnView.of(TURN)
    assert [(c.step, c.name) for c in view.calls] == [(1, "search"), (3, "book"), (3, "book"), (6, "pay")]
    assert [(r.step, r.name) for r in view.results] == [(2, "search"), (4, "book"), (5, "book"), (7, "pay")]
    assert [(r.step, r.final) for r in view.replies] == [(1, False), (3, False), (6, False), (8, True)]
    assert "think" not in view.replies[-1].text


# ------------------------------------------------------------------------------------------- text semantics


TWO_REPLIES = [
    {"role": "user", "content": "u"},
    {"role": "assistant", "content": "alpha first", "tool_calls": [tc("1", "search", {})]},
    {"role": "tool", "tool_call_id": "1", "content": '{"ok": true}'},
    {"role": "assistant", "content": "then beta"},
]


def test_reply_positive_conditions_must_hold_in_one_reply_not_across_replies():
    assert not passes({"type": "reply_matches", "all": ["alpha", "beta"]}, TWO_REPLIES)
    assert passes({"type": "reply_matches", "any": ["alpha", "beta"]}, TWO_REPLIES)
    assert passes({"type": "reply_matches", "all": ["then", "beta"]}, TWO_REPLIES)
    assert not passes({"type": "reply_matches", "any": ["alpha"], "regex": "beta"}, TWO_REPLIES)


def test_reply_none_applies_to_every_reply_in_scope():
    assert not passes({"type": "reply_matches", "any": ["beta"], "none": ["alpha"]}, TWO_REPLIES)
    assert passes({"type": "reply_matches", "any": ["beta"], "none": ["alpha"], "final_only": True}, TWO_REPLIES)


def test_reply_none_only_passes_without_forbidden_text():
    assert passes({"type": "reply_matches", "none": ["gamma"]}, TWO_REPLIES)
    assert passes({"type": "reply_matches", "none": ["gamma"]}, TWO_REPLIES[:1])  # no reply at all


def test_tool_result_none_only_needs_a_result_in_scope():
    assert not passes({"type": "tool_result_matches", "none": ["error"]}, TWO_REPLIES[:1] + TWO_REPLIES[-1:])
    assert not passes({"type": "tool_result_matches", "name": "book", "none": ["error"]}, TWO_REPLIES)
    assert passes({"type": "tool_result_matches", "none": ["error"]}, TWO_REPLIES)
    v = judge({"type": "tool_result_matches", "name": "notify", "none": ["x"]})
    assert v.status == "failed" and "no notify result" in v.rationale


def test_tool_result_positive_conditions_must_hold_in_one_result():
    assert not passes({"type": "tool_result_matches", "name": "book", "all": ["BK-1", "BK-2"]})
    assert passes({"type": "tool_result_matches", "name": "book", "any": ["BK-1", "BK-2"]})


def test_refused_calls_do_not_satisfy_tool_called_but_do_break_tool_not_called():
    item = ChecklistItem.model_validate({"id": "X", "question": "q", "weight": 1.0,
                                         "check": {"type": "tool_called", "name": "search"}})
    req = TurnJudgeRequest(TASK, 0, [item], TWO_REPLIES, [], rejected_call_ids=frozenset({"1"}))
    assert RuleJudge().judge_sync(req)["X"].status == "failed"
    item = item.model_copy(update={"check": ChecklistItem.model_validate(
        {"id": "X", "question": "q", "weight": 1.0, "check": {"type": "tool_not_called", "name": "search"}}).check})
    req = TurnJudgeRequest(TASK, 0, [item], TWO_REPLIES, [], rejected_call_ids=frozenset({"1"}))
    assert RuleJudge().judge_sync(req)["X"].status == "failed"
