"""A constant-reply baseline: answers every turn with the same text and never calls a tool (any env)."""

from __future__ import annotations

from typing import Any

from cm2_env.tasks.models import Task

DEFAULT_REPLY = "I'm sorry, I can't help with that."


class FixedReplyAgent:
    def __init__(self, reply: str = DEFAULT_REPLY):
        self.reply = reply

    def reset(self, task: Task, seed: int | None = None) -> None:
        pass

    async def act(self, observation: list[dict[str, Any]], info: dict[str, Any]) -> dict[str, Any]:
        return {"role": "assistant", "content": self.reply}
