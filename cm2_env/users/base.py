"""User-side protocol: one session per episode says the opening message and answers finished turns."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..tasks.models import Task
from ..types import UserReply


@runtime_checkable
class UserSession(Protocol):
    async def first_message(self) -> UserReply:
        ...

    async def reply(self, messages: list[dict[str, Any]], next_turn: int) -> UserReply:
        """The user's message opening turn ``next_turn``, given the conversation so far."""
        ...


@runtime_checkable
class UserSimulator(Protocol):
    def session(self, task: Task, *, seed: int | None = None) -> UserSession:
        ...
