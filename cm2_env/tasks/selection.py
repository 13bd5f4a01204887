"""Task selection: id globs and ``domain:NAME`` terms."""

from __future__ import annotations

import fnmatch
from typing import Sequence

from .models import Task


def select_tasks(tasks: Sequence[Task], selector: str | None) -> list[Task]:
    """Filter by a selector: comma-separated terms, each an id glob (``travel-*``) or ``domain:NAME``.

    A selector that matches nothing is an error (a typo must not silently run zero episodes).
    """
    if not selector:
        return list(tasks)
    terms = [s.strip() for s in selector.split(",") if s.strip()]
    out = []
    for t in tasks:
        for term in terms:
            if term.startswith("domain:"):
                if fnmatch.fnmatchcase(t.domain, term[len("domain:"):]):
                    out.append(t)
                    break
            elif fnmatch.fnmatchcase(t.id, term):
                out.append(t)
                break
    if not out:
        raise ValueError(f"task selector {selector!r} matches no task")
    return out
