"""Checklists derived from BFCL ground truth.

Per user turn:

* one ``tool_called`` item per distinct ground-truth call (identical calls are merged with ``min_count``),
  each argument pinned with ``equals`` — except arguments whose ground-truth value equals the schema default,
  which are left unconstrained (an agent that omits a defaulted argument makes the same call); the match is
  ``exact`` when the constraints cover every parameter of the schema (no legitimate extra argument), else
  ``subset``;
* a **state item** (id ``S``, check ``bfcl_state``): after the turn, the public state of every involved class
  equals the state the ground truth reaches (bfcl-eval's own ``state_checker``, re-executing the episode's
  calls; see :mod:`.checks`).
* a **response item** (id ``R``, check ``bfcl_response``, turns with ground-truth calls): every result the
  ground-truth calls of this turn produce is among the results the episode has obtained so far (bfcl-eval's
  ``response_checker``: the information the user asked for was really fetched).
* a turn whose ground truth is empty (miss_param: a parameter is missing, the agent should ask; miss_func:
  the needed function is not available yet; a few base turns ask for the impossible) gets a
  ``tool_not_called('*')`` item — bfcl-eval's irrelevance rule: no function call in that turn — plus the
  state item.

Weights: the outcome items (state, and response when present) share ``outcome_weight`` (default 0.6), the
call items share the rest equally.
"""

from __future__ import annotations

from typing import Any

from ...tasks.models import ArgConstraint, ChecklistItem, Evidence, ToolCalledCheck, ToolNotCalledCheck
from .calls import render_call
from .checks import BFCLResponseCheck, BFCLStateCheck

STATE_ITEM_ID = "S"
RESPONSE_ITEM_ID = "R"


def _weights(n: int, total: float) -> list[float]:
    if n == 0:
        return []
    w = round(total / n, 6)
    return [w] * (n - 1) + [round(total - w * (n - 1), 6)]


def _constraints(args: dict[str, Any], schema: dict[str, Any]) -> dict[str, ArgConstraint]:
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    out: dict[str, ArgConstraint] = {}
    for k, v in args.items():
        prop = props.get(k, {})
        if "default" in prop and prop["default"] == v and type(prop["default"]) is type(v):
            continue
        out[k] = ArgConstraint(equals=v)
    return out


def _tool_called(name: str, args: dict[str, Any], schema: dict[str, Any], count: int) -> ToolCalledCheck:
    """``exact`` when the ground truth pins every parameter the schema has (no legitimate extra argument is
    possible, e.g. a no-argument function), else ``subset``."""
    constraints = _constraints(args, schema)
    props = set((schema.get("properties") or {}) if isinstance(schema, dict) else {})
    exact = props <= set(constraints)
    return ToolCalledCheck(name=name, args=constraints, match="exact" if exact else "subset", min_count=count)


def turn_checklist(
    turn: int,
    calls: list[tuple[str, dict[str, Any]]],
    schemas: dict[str, dict[str, Any]],
    *,
    steps: list[int] | None = None,
    outcome_weight: float = 0.6,
) -> list[ChecklistItem]:
    """Checklist of one turn; ``calls`` are the turn's ground-truth calls as (name, keyword arguments) and
    ``steps`` the index, within the reference turn, of the assistant message making each call (evidence)."""
    items: list[ChecklistItem] = []
    if calls:
        merged: list[tuple[str, dict[str, Any], int, list[int]]] = []  # name, args, count, steps
        for k, (name, args) in enumerate(calls):
            step = steps[k] if steps is not None else 1 + 2 * k
            for i, (n2, a2, c2, s2) in enumerate(merged):
                if n2 == name and a2 == args:
                    merged[i] = (n2, a2, c2 + 1, s2 + [step])
                    break
            else:
                merged.append((name, args, 1, [step]))
        weights = _weights(len(merged), 1.0 - outcome_weight)
        for i, ((name, args, count, steps), w) in enumerate(zip(merged, weights)):
            rendered = render_call(name, args)
            times = f" {count} times" if count > 1 else ""
            items.append(ChecklistItem(
                id=f"C{i}",
                question=f"Does the assistant call `{rendered}`{times} in this turn?",
                pass_condition=f"A call to {name} whose arguments match {args} (defaulted arguments may be omitted).",
                focus_on="assistant.tool_calls",
                evidence=[Evidence(turn=turn, step=s, **{"from": "assistant.tool_calls"}, snippet=rendered) for s in steps],
                failure_examples=[f"{name} not called", f"{name} called with different arguments"],
                weight=w,
                check=_tool_called(name, args, schemas.get(name, {}), count),
                extra_info={"bfcl_ground_truth": rendered},
            ))
    else:
        items.append(ChecklistItem(
            id="N0",
            question="Does the assistant refrain from calling any function in this turn (the request cannot be "
                     "fulfilled yet: a parameter or function is missing) and ask or explain instead?",
            pass_condition="No tool call in the turn (BFCL: the ground truth of this turn is empty).",
            focus_on="assistant.tool_calls",
            failure_examples=["guessing a missing parameter and calling the function anyway"],
            weight=round(1.0 - outcome_weight, 6),
            check=ToolNotCalledCheck(name="*"),
        ))
    state_weight = outcome_weight / 2 if calls else outcome_weight
    if calls:
        items.append(ChecklistItem(
            id=RESPONSE_ITEM_ID,
            question="By the end of this turn, has the assistant obtained every result that the ground-truth calls "
                     "of this turn produce (the information or confirmations the user asked for)?",
            pass_condition="bfcl-eval's response_checker: the ground-truth execution results of this turn are all "
                           "among the execution results of the episode so far (any order).",
            focus_on="tool.content",
            weight=round(outcome_weight - state_weight, 6),
            check=BFCLResponseCheck(),
        ))
    items.append(ChecklistItem(
        id=STATE_ITEM_ID,
        question="After this turn, does the state of every involved tool (files, messages, accounts, bookings, "
                 "vehicle, ...) equal the state the ground-truth calls produce?",
        pass_condition="bfcl-eval's state_checker finds no difference between the episode's class instances and "
                       "the ground-truth instances after this turn.",
        focus_on="tool.content",
        weight=round(state_weight, 6),
        check=BFCLStateCheck(),
    ))
    return items
