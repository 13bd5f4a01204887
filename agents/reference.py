"""The reference agent: replays the task's reference assistant messages, turn by turn."""

from __future__ import annotations

from typing import Any

from cm2_env.tasks.models import Task

from .base import to_hermes_text

FALLBACK_REPLY = "I have nothing more to add."


class ReferenceAgent:
    """Replays ``task.reference``. Tracks its own position, so it stays aligned when the env diverges
    (e.g. a synthetic tool result): it keeps replaying, and ends a turn whose script is used up."""

    def __init__(self, as_text: bool = False):
        self.as_text = as_text
        self._script: list[list[dict[str, Any]]] = []
        self._turn = -1
        self._pos = 0

    def reset(self, task: Task, seed: int | None = None) -> None:
        self._script = [[m for m in turn if m["role"] == "assistant"] for turn in task.reference_turns()]
        self._turn, self._pos = -1, 0

    def _sync_turn(self, observation: list[dict[str, Any]]) -> list[dict[str, Any]]:
        turn = sum(1 for m in observation if m.get("role") == "user") - 1
        if turn != self._turn:
            self._turn, self._pos = turn, 0
        return self._script[turn] if 0 <= turn < len(self._script) else []

    def next_message(self, observation: list[dict[str, Any]]) -> dict[str, Any]:
        script = self._sync_turn(observation)
        if self._pos >= len(script):
            return {"role": "assistant", "content": FALLBACK_REPLY}
        msg = script[self._pos]
        self._pos += 1
        out = {"role": "assistant", "content": msg.get("content") or ""}
        if msg.get("tool_calls"):
            out["tool_calls"] = msg["tool_calls"]
        return out

    def render(self, message: dict[str, Any]) -> str | dict[str, Any]:
        return to_hermes_text(message) if self.as_text else message

    async def act(self, observation: list[dict[str, Any]], info: dict[str, Any]) -> str | dict[str, Any]:
        return self.render(self.next_message(observation))
