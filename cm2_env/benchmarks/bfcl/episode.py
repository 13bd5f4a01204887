"""Recover, from an episode's OpenAI messages, the tool calls that really reached the BFCL classes.

A call counts as executed when a tool message answers it (same ``tool_call_id``) and it passes the same
front-line validation the env applies (:class:`cm2_env.tools.validation.ToolSet` over the tools active in that
turn — held-out miss_func tools only from their reveal turn). Calls rejected by validation never touched the
tool state, so they are not replayed. Turns are delimited by user messages; steps are assistant messages.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Sequence

from ...parsing import repair_json
from ...tasks.models import Task
from ...tools.validation import ToolSet
from ...types import ToolCall

Call = tuple[str, dict[str, Any]]
"""(function name, keyword arguments)."""


def active_tools(task: Task, turn: int) -> list[dict[str, Any]]:
    """The task's tools the agent may use in ``turn`` (miss_func tools appear at their reveal turn)."""
    return task.tools_for_turn(turn)


@lru_cache(maxsize=256)
def _toolset(task_id: str, tools_json: str) -> ToolSet:
    return ToolSet(json.loads(tools_json))


def toolset_for(task: Task, turn: int) -> ToolSet:
    tools = active_tools(task, turn)
    return _toolset(task.id, json.dumps(tools, sort_keys=True))


def _parse_args(raw: Any) -> tuple[dict[str, Any] | None, str, str | None]:
    """The env parser's reading of recorded arguments (same bounded JSON repair)."""
    if isinstance(raw, dict):
        return raw, json.dumps(raw), None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}, raw or "", None
    if isinstance(raw, str):
        try:
            val = repair_json(raw)
        except (json.JSONDecodeError, ValueError) as e:
            return None, raw, f"arguments are not valid JSON: {e}"
        if isinstance(val, dict):
            return val, raw, None
        return None, raw, "arguments are not a JSON object"
    return None, str(raw), "arguments are not a JSON object"


def executed_calls(
    task: Task, messages: list[dict[str, Any]], executed: Sequence[Any] | None = None
) -> list[list[list[Call]]]:
    """``[turn][step] -> [calls]``: per user turn, per assistant message, the executed calls in order.

    With ``executed`` (a BFCL tool session's record, :attr:`.executor.BFCLToolSession.executed`) the calls are
    taken from it, matched to the messages in order by call id — exact. Without it (e.g. in the judge, which
    has no session) they are re-derived: answered by a tool message and passing the env's validation.
    Assistant messages with no executed call produce no step (as bfcl-eval drops empty decoded steps).
    """
    answered = {m.get("tool_call_id") for m in messages if m.get("role") == "tool"}
    pending = list(executed) if executed is not None else None
    pos = 0
    turns: list[list[list[Call]]] = []
    for m in messages:
        role = m.get("role")
        if role == "user":
            turns.append([])
            continue
        if role != "assistant" or not turns:
            continue
        step: list[Call] = []
        toolset = toolset_for(task, len(turns) - 1)
        for tc in m.get("tool_calls") or []:
            fn = tc.get("function") or {}
            name = fn.get("name") or ""
            if pending is not None:
                if pos < len(pending) and pending[pos].call_id == tc.get("id") and pending[pos].name == name:
                    step.append((name, pending[pos].arguments))
                    pos += 1
                continue
            args, raw, err = _parse_args(fn.get("arguments"))
            if tc.get("id") not in answered:
                continue
            if toolset.check(ToolCall(tc.get("id") or "", name, args, raw, err)) is not None:
                continue
            step.append((name, args or {}))
        if step:
            turns[-1].append(step)
    return turns
