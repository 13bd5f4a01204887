"""The normalised conversation record every data stage reads and writes (one JSON object per JSONL line).

    {
      "id": "nemotron-3f2a…",             # stable: the source's own id, else a content hash (record_id)
      "messages": [...],                  # OpenAI chat messages: assistant ``tool_calls`` [{id, type, function:
                                          #   {name, arguments (JSON text)}}], tool messages with ``tool_call_id``;
                                          #   think blocks stay inside the assistant ``content`` as <think>…</think>
      "tools": [...],                     # OpenAI function tools [{"type": "function", "function": {name,
                                          #   description, parameters}}]
      "source": {"format": "nemotron", "file": "raw.jsonl", "line": 17, "original_id": "…"},
      "meta": {...},                      # what stages add: stats, split, cascade verdicts, flags, cost
      "checklists": [[[item, ...], ...]]  # after `label`: [variant][user turn][item], CM2's item fields — the
                                          #   shape the CM2 authors' labelled format has, so cm2_env.tasks.from_cm2
                                          #   reads a labelled record as a task
    }

Stages never drop a record silently: a record they cannot use goes to the rejected file with its reasons.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

ROLES = ("system", "user", "assistant", "tool")


def record_id(messages: Any, tools: Any, prefix: str = "conv") -> str:
    """A content hash id for a record whose source has none (the same conversation always gets the same id)."""
    blob = json.dumps([messages, tools], sort_keys=True, ensure_ascii=False, default=str).encode()
    return f"{prefix}-{hashlib.sha1(blob).hexdigest()[:16]}"


def user_turns(messages: list[dict[str, Any]]) -> list[int]:
    """Indices of the user messages (one checklist per user turn)."""
    return [i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "user"]


def tool_names(tools: list[dict[str, Any]]) -> list[str]:
    """Function names of OpenAI tools (also accepts bare function schemas)."""
    out = []
    for t in tools or []:
        if isinstance(t, dict):
            fn = t.get("function", t)
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                out.append(fn["name"])
    return out


def meta(record: dict[str, Any]) -> dict[str, Any]:
    """The record's ``meta`` dict, created when absent."""
    m = record.get("meta")
    if not isinstance(m, dict):
        m = record["meta"] = {}
    return m
