"""Index of the reference's recorded tool results, looked up by canonical call."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from ..tasks.models import Task
from .canonical import call_key


def _parse_args(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, dict):
        return raw
    try:
        val = json.loads(raw) if isinstance(raw, str) and raw.strip() else {}
    except json.JSONDecodeError:
        return None
    return val if isinstance(val, dict) else None


class ReplayIndex:
    """Recorded results of a task's reference, keyed by (name, canonical arguments).

    The reference world is stateful, so when it made the same call several times the k-th identical call
    of an episode gets the k-th recording (the last one after that).
    """

    def __init__(self, task: Task, schemas: dict[str, dict[str, Any]]):
        self.records: dict[str, list[str]] = defaultdict(list)
        self.examples: dict[str, list[tuple[dict[str, Any], str]]] = defaultdict(list)
        pending: list[tuple[str, str, dict[str, Any]]] = []  # (call id, name, args) awaiting their result
        for msg in task.reference or []:
            m = msg.model_dump(exclude_none=True)
            if m["role"] == "assistant":
                pending = []
                for tc in m.get("tool_calls") or []:
                    fn = tc.get("function", {})
                    args = _parse_args(fn.get("arguments", {}))
                    if args is not None and fn.get("name"):
                        pending.append((tc.get("id", ""), fn["name"], args))
            elif m["role"] == "tool" and pending:
                # match by tool_call_id; CM2 data has none, so fall back to call order
                idx = next((i for i, p in enumerate(pending) if p[0] and p[0] == m.get("tool_call_id")), 0)
                _, name, args = pending.pop(idx)
                content = m.get("content") or ""
                self.records[call_key(name, args, schemas.get(name))].append(content)
                self.examples[name].append((args, content))

    def lookup(self, key: str, occurrence: int) -> str | None:
        recs = self.records.get(key)
        if not recs:
            return None
        return recs[min(occurrence, len(recs) - 1)]


class TaskToolCache:
    """A backend's per-task tool tables (name → tool, name → parameter schema) and replay index, built once."""

    def __init__(self) -> None:
        self._tasks: dict[int, tuple[Task, ReplayIndex, dict[str, dict], dict[str, dict]]] = {}

    def get(self, task: Task) -> tuple[ReplayIndex, dict[str, dict], dict[str, dict]]:
        """(replay index, schemas by tool name, tools by name) for ``task``."""
        hit = self._tasks.get(id(task))
        if hit is None or hit[0] is not task:  # id() of a collected task may be reused
            tools = {t.get("function", t)["name"]: t for t in task.tools}
            schemas = {n: t.get("function", t).get("parameters") for n, t in tools.items()}
            hit = (task, ReplayIndex(task, schemas), schemas, tools)
            self._tasks[id(task)] = hit
        return hit[1], hit[2], hit[3]
