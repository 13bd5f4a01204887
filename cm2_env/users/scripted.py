"""The scripted user: replays the task's user turns in order and stops when the script ends."""

from __future__ import annotations

from typing import Any

from ..tasks.models import Task
from ..types import UserReply


class ScriptedUserSession:
    def __init__(self, task: Task):
        self.turns = [t.user for t in task.turns]

    async def first_message(self) -> UserReply:
        return await self.reply([], 0)

    async def reply(self, messages: list[dict[str, Any]], next_turn: int) -> UserReply:
        if next_turn >= len(self.turns):
            return UserReply(None, done=True)
        text = self.turns[next_turn]
        if text is None:
            return UserReply(None, done=True, meta={"error": f"turn {next_turn} has no scripted user message"})
        return UserReply(text)


class ScriptedUser:
    """UserSimulator replaying ``Task.turns[i].user``."""

    def session(self, task: Task, *, seed: int | None = None) -> ScriptedUserSession:
        return ScriptedUserSession(task)
