"""Tool backend protocol: a backend opens one session per episode; the session answers calls.

The env validates every call first (unknown tool, arguments against the JSON schema), so a session only
sees calls to known tools with schema-valid arguments.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..tasks.models import Task
from ..types import ToolCall, ToolResult


@runtime_checkable
class ToolSession(Protocol):
    async def call(self, call: ToolCall) -> ToolResult:
        """Answer one validated call. Must not raise for a domain failure: return an error result."""
        ...

    def close(self) -> None:
        """Release per-episode resources."""
        ...


@runtime_checkable
class ToolBackend(Protocol):
    def session(self, task: Task, *, group_key: str | None = None, seed: int | None = None) -> ToolSession:
        """A fresh, isolated session for one episode of ``task``.

        ``group_key`` is shared by the rollouts of one GRPO group; backends may memoise across it.
        """
        ...


class EpisodeEvaluator(Protocol):
    """Optional extra verdict computed at episode end (e.g. a benchmark's official checker)."""

    name: str

    async def evaluate(self, task: Task, messages: list[dict[str, Any]], session: ToolSession) -> dict[str, Any]:
        ...
