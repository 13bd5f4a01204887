"""Checklist judge protocol: decide a turn's items from the turn's messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..tasks.models import ChecklistItem, Task
from ..types import Verdict
from .checks import CheckContext


@dataclass
class TurnJudgeRequest:
    """Everything a judge may look at for one turn."""

    task: Task
    turn_index: int
    items: list[ChecklistItem]
    """The items to decide (a judge returns a verdict for each, possibly 'unjudged')."""
    turn_messages: list[dict[str, Any]]
    """The turn's messages: [user, assistant, tool, ..., assistant]; index = step."""
    history: list[dict[str, Any]]
    """All messages before this turn (system first)."""
    rejected_call_ids: frozenset[str] = frozenset()
    """Ids of this turn's tool calls the env refused (unknown tool, malformed, schema violation): they were
    attempted but never executed, so they cannot satisfy a ``tool_called`` item."""
    session: Any = None
    """The episode's tool session (read-only), for outcome checks; None when judged without one."""

    def context(self) -> CheckContext:
        """The read-only view programmatic checks decide from."""
        return CheckContext(self.task, self.turn_index, self.turn_messages, self.history,
                            self.rejected_call_ids, self.session)


@runtime_checkable
class Judge(Protocol):
    async def judge_turn(self, request: TurnJudgeRequest) -> dict[str, Verdict]:
        """One verdict per item id. Must not raise: a failure becomes status 'error'."""
        ...
