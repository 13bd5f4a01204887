"""The rule judge: decides checklist items that carry a programmatic ``check`` (no LLM)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

from ..parsing import strip_think
from ..tasks.models import (
    ArgConstraint,
    ChecklistItem,
    ReplyMatchesCheck,
    ToolCalledCheck,
    ToolNotCalledCheck,
    ToolResultMatchesCheck,
    _TextMatch,
)
from ..types import Verdict
from .base import TurnJudgeRequest


@dataclass
class TurnView:
    """A turn's messages digested once for all checks of the turn."""

    calls: list[tuple[int, str, dict[str, Any] | None, str]] = field(default_factory=list)
    """(step, tool name, parsed arguments or None, call id) in call order."""
    results: list[tuple[int, str, str]] = field(default_factory=list)
    """(step, tool name of the call, content)."""
    replies: list[tuple[int, str, bool]] = field(default_factory=list)
    """(step, user-visible text, is a final reply without tool calls)."""

    rejected: frozenset[str] = frozenset()
    """Ids of calls the env refused before execution."""

    @classmethod
    def of(cls, messages: list[dict[str, Any]], rejected: frozenset[str] = frozenset()) -> "TurnView":
        view = cls(rejected=rejected)
        names: dict[str, str] = {}
        for step, m in enumerate(messages):
            role = m.get("role")
            if role == "assistant":
                tcs = m.get("tool_calls") or []
                for tc in tcs:
                    fn = tc.get("function") or {}
                    args = fn.get("arguments")
                    if isinstance(args, str):
                        try:
                            args = json.loads(args) if args.strip() else {}
                        except json.JSONDecodeError:
                            args = None
                    if not isinstance(args, dict):
                        args = None
                    view.calls.append((step, fn.get("name") or "", args, tc.get("id") or ""))
                    names[tc.get("id") or ""] = fn.get("name") or ""
                view.replies.append((step, strip_think(m.get("content")), not tcs))
            elif role == "tool":
                name = m.get("name") or names.get(m.get("tool_call_id") or "", "")
                view.results.append((step, name, m.get("content") or ""))
        return view


# ------------------------------------------------------------------------- matching primitives


@lru_cache(maxsize=4096)
def _regex(pattern: str, flags: int = 0) -> re.Pattern:
    return re.compile(pattern, flags)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if isinstance(a, bool) and isinstance(b, bool) else False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def constraint_holds(c: ArgConstraint, present: bool, value: Any) -> bool:
    if c.present is not None:
        return present == c.present
    if not present:
        return False
    if "equals" in c.model_fields_set:
        return _equal(value, c.equals)
    if c.one_of is not None:
        return any(_equal(value, v) for v in c.one_of)
    if c.regex is not None:
        return _regex(c.regex).fullmatch(_as_text(value)) is not None
    if c.contains is not None:
        return c.contains.lower() in _as_text(value).lower()
    if c.approx is not None:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isclose(
            value, c.approx, abs_tol=c.tol
        )
    return False


def args_match(constraints: dict[str, ArgConstraint], args: dict[str, Any] | None, exact: bool = False) -> bool:
    if args is None:
        return False
    if exact and set(args) - set(constraints):
        return False
    return all(constraint_holds(c, k in args, args.get(k)) for k, c in constraints.items())


def text_matches(m: _TextMatch, text: str, positive_only: bool = False) -> bool:
    flags = 0 if m.case_sensitive else re.I
    hay = text if m.case_sensitive else text.lower()

    def norm(s: str) -> str:
        return s if m.case_sensitive else s.lower()

    if m.any and not any(norm(s) in hay for s in m.any):
        return False
    if m.all and not all(norm(s) in hay for s in m.all):
        return False
    if m.regex and not _regex(m.regex, flags).search(text):
        return False
    if not positive_only and m.none and any(norm(s) in hay for s in m.none):
        return False
    return True


def _has_positive(m: _TextMatch) -> bool:
    return bool(m.any or m.all or m.regex)


# ------------------------------------------------------------------------- checks


def _tool_called(c: ToolCalledCheck, view: TurnView) -> tuple[bool, int | None, str]:
    seen: set[str] = set()
    hits = 0
    for step, name, args, call_id in view.calls:
        if call_id and call_id in view.rejected:  # refused by validation: attempted, never executed
            continue
        if name == c.name and args_match(c.args, args, c.match == "exact") and all(a in seen for a in c.after):
            hits += 1
            if hits >= c.min_count:
                return True, step, f"{name} called with matching arguments"
        seen.add(name)
    called = [n for _, n, _, _ in view.calls]
    why = f"no matching call to {c.name}" + (f" (calls: {', '.join(called)})" if called else " (no tool calls)")
    return False, None, why


def _tool_not_called(c: ToolNotCalledCheck, view: TurnView) -> tuple[bool, int | None, str]:
    for step, name, args, _ in view.calls:
        if (c.name == "*" or name == c.name) and (not c.args or args_match(c.args, args)):
            return False, step, f"forbidden call to {name} at step {step}"
    return True, None, f"{c.name} not called"


def _texts_match(c: _TextMatch, texts: list[tuple[int, str]], what: str) -> tuple[bool, int | None, str]:
    # `none` applies to every text in scope; the positive conditions to one text (any step may satisfy them)
    for step, text in texts:
        hay = text if c.case_sensitive else text.lower()
        bad = next((s for s in c.none if (s if c.case_sensitive else s.lower()) in hay), None)
        if bad is not None:
            return False, step, f"{what} at step {step} contains forbidden {bad!r}"
    if not _has_positive(c):
        return True, None, f"no {what} contains a forbidden string"
    for step, text in texts:
        if text_matches(c, text, positive_only=True):
            return True, step, f"{what} at step {step} matches"
    return False, None, f"no {what} matches"


def _reply_matches(c: ReplyMatchesCheck, view: TurnView) -> tuple[bool, int | None, str]:
    replies = [(s, t) for s, t, final in view.replies if final or not c.final_only]
    if c.final_only:
        replies = replies[-1:]
    return _texts_match(c, replies, "reply")


def _tool_result_matches(c: ToolResultMatchesCheck, view: TurnView) -> tuple[bool, int | None, str]:
    results = [(s, t) for s, n, t in view.results if c.name is None or n == c.name]
    return _texts_match(c, results, f"{c.name or 'tool'} result")


CHECKS: dict[str, Callable[[Any, TurnView], tuple[bool, int | None, str]]] = {
    "tool_called": _tool_called,
    "tool_not_called": _tool_not_called,
    "reply_matches": _reply_matches,
    "tool_result_matches": _tool_result_matches,
}


def run_check(item: ChecklistItem, view: TurnView) -> Verdict:
    try:
        ok, step, why = CHECKS[item.check.type](item.check, view)  # type: ignore[union-attr]
    except Exception as e:  # a bad regex in a task file must not crash an episode
        return Verdict(item.id, "error", None, f"check failed to run: {type(e).__name__}: {e}", "rule")
    return Verdict(item.id, "passed" if ok else "failed", step, why, "rule")


class RuleJudge:
    """Judge for items with a ``check``; items without one are returned as ``unjudged``."""

    async def judge_turn(self, request: TurnJudgeRequest) -> dict[str, Verdict]:
        return self.judge_sync(request)

    def judge_sync(self, request: TurnJudgeRequest) -> dict[str, Verdict]:
        view = TurnView.of(request.turn_messages, request.rejected_call_ids)
        out: dict[str, Verdict] = {}
        for item in request.items:
            if item.check is None:
                out[item.id] = Verdict(item.id, "unjudged", None, "no programmatic check and no LLM judge", "none")
            else:
                out[item.id] = run_check(item, view)
        return out
