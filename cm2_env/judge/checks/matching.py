"""Matching primitives shared by the built-in checks: argument constraints and text conditions."""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .calls import ArgConstraint
    from .text import TextMatch


@lru_cache(maxsize=4096)
def compiled(pattern: str, flags: int = 0) -> re.Pattern:
    return re.compile(pattern, flags)


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
        return compiled(c.regex).fullmatch(as_text(value)) is not None
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
    if m.regex and not compiled(m.regex, 0 if m.case_sensitive else re.I).search(text):
        return False
    return True
