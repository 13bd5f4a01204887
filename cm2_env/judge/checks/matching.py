"""Matching primitives shared by the built-in checks: argument constraints and text conditions.

Regexes come from task files (LLM labellers write them) and run on model output, so a catastrophic pattern
such as ``(a+)+$`` must not hang an episode — nor, since checks run on the event loop, every other episode of
the run. Patterns are compiled with the ``regex`` engine (``re``'s syntax, plus a match ``timeout``) and every
match shares its check's time budget (:data:`CHECK_TIME_BUDGET_S`, set by the rule engine through
:func:`check_budget`); a match that runs out raises :class:`CheckTimeout`, which the rule engine turns into an
``error`` verdict. A linear-time engine (RE2) was the alternative; it rejects back-references and look-arounds
that existing task files use, and a time limit keeps ``re``'s semantics exactly.
"""

from __future__ import annotations

import contextvars
import json
import math
import time
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Iterator

import regex
from pydantic import AfterValidator

if TYPE_CHECKING:
    from .calls import ArgConstraint
    from .text import TextMatch


CHECK_TIME_BUDGET_S = 0.1
"""The most time the regex matches of one check may take together."""
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("cm2_check_deadline", default=None)


class CheckTimeout(TimeoutError):
    """A check's regex matching ran out of its time budget."""


@contextmanager
def check_budget(seconds: float = CHECK_TIME_BUDGET_S) -> Iterator[None]:
    """Every regex match inside shares one deadline ``seconds`` from now."""
    token = _deadline.set(time.perf_counter() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


@lru_cache(maxsize=4096)
def compiled(pattern: str, ignore_case: bool = False) -> regex.Pattern:
    """The pattern compiled with the runtime engine (raises ``regex.error`` if it cannot be compiled)."""
    return regex.compile(pattern, regex.IGNORECASE if ignore_case else 0)


def pattern_error(pattern: str) -> str | None:
    """Why ``pattern`` cannot be compiled by the runtime engine (None when it can)."""
    try:
        compiled(pattern)
    except (regex.error, ValueError, TypeError, OverflowError, RecursionError) as e:
        return f"invalid regex {pattern!r}: {e}"
    return None


def _must_compile(pattern: str) -> str:
    problem = pattern_error(pattern)
    if problem is not None:
        raise ValueError(problem)
    return pattern


Pattern = Annotated[str, AfterValidator(_must_compile)]
"""A regex field of a check spec: refused at validation (located) when the runtime engine cannot compile it."""


def _timeout() -> float:
    deadline = _deadline.get()
    left = CHECK_TIME_BUDGET_S if deadline is None else deadline - time.perf_counter()
    if left <= 0:
        raise CheckTimeout(f"regex matching exceeded the check's {CHECK_TIME_BUDGET_S * 1000:.0f} ms budget")
    return left


def regex_search(pattern: str, text: str, ignore_case: bool = False) -> bool:
    try:
        return compiled(pattern, ignore_case).search(text, timeout=_timeout()) is not None
    except TimeoutError as e:
        raise CheckTimeout(f"regex {pattern[:80]!r} exceeded the check's {CHECK_TIME_BUDGET_S * 1000:.0f} ms "
                           f"budget on a {len(text)}-character text (catastrophic backtracking?)") from e


def regex_fullmatch(pattern: str, text: str) -> bool:
    try:
        return compiled(pattern).fullmatch(text, timeout=_timeout()) is not None
    except TimeoutError as e:
        raise CheckTimeout(f"regex {pattern[:80]!r} exceeded the check's {CHECK_TIME_BUDGET_S * 1000:.0f} ms "
                           f"budget on a {len(text)}-character value (catastrophic backtracking?)") from e


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def values_equal(a: Any, b: Any) -> bool:
    """JSON equality where numbers compare by value (1 == 1.0) and booleans only equal booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def constraint_holds(c: "ArgConstraint", present: bool, value: Any) -> bool:
    if c.present is not None:
        return present == c.present
    if not present:
        return False
    if "equals" in c.model_fields_set:
        return values_equal(value, c.equals)
    if c.one_of is not None:
        return any(values_equal(value, v) for v in c.one_of)
    if c.regex is not None:
        return regex_fullmatch(c.regex, as_text(value))
    if c.contains is not None:
        return c.contains.lower() in as_text(value).lower()
    if c.approx is not None:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isclose(
            value, c.approx, abs_tol=c.tol
        )
    return False


def args_match(constraints: dict[str, "ArgConstraint"], args: dict[str, Any] | None, exact: bool = False) -> bool:
    """Every constraint holds; with ``exact``, no argument beyond the constrained ones."""
    if args is None:
        return False
    if exact and set(args) - set(constraints):
        return False
    return all(constraint_holds(c, k in args, args.get(k)) for k, c in constraints.items())


def forbidden_in(m: "TextMatch", text: str) -> str | None:
    """The first ``none`` string ``text`` contains, if any."""
    hay = text if m.case_sensitive else text.lower()
    return next((s for s in m.none if (s if m.case_sensitive else s.lower()) in hay), None)


def positive_match(m: "TextMatch", text: str) -> bool:
    """``text`` alone meets ``any``, ``all`` and ``regex`` (each that is set)."""
    hay = text if m.case_sensitive else text.lower()

    def norm(s: str) -> str:
        return s if m.case_sensitive else s.lower()

    if m.any and not any(norm(s) in hay for s in m.any):
        return False
    if m.all and not all(norm(s) in hay for s in m.all):
        return False
    if m.regex and not regex_search(m.regex, text, ignore_case=not m.case_sensitive):
        return False
    return True
