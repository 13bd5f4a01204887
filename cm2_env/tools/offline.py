"""The offline tool simulator (no LLM): replay of the reference, else a deterministic synthetic result."""

from __future__ import annotations

from collections import Counter

from ..tasks.models import Task
from ..types import ToolCall, ToolResult
from .canonical import call_key, canonical_args
from .replay import ReplayIndex, TaskToolCache
from .synthetic import synthesize


class OfflineToolSession:
    def __init__(self, task: Task, index: ReplayIndex, schemas: dict, tools: dict):
        self.task = task
        self.index = index
        self.schemas = schemas
        self.tools = tools
        self.memo: dict[str, ToolResult] = {}
        self.occurrences: Counter[str] = Counter()

    async def call(self, call: ToolCall) -> ToolResult:
        schema = self.schemas.get(call.name)
        key = call_key(call.name, call.arguments, schema)
        occurrence = self.occurrences[key]
        self.occurrences[key] += 1
        recorded = self.index.lookup(key, occurrence)
        if recorded is not None:
            return ToolResult(recorded, source="replay")
        if key in self.memo:
            return self.memo[key]
        content = synthesize(self.task.id, self.tools.get(call.name, {}), call.name,
                             canonical_args(call.arguments, schema))
        result = ToolResult(content, source="synthetic", meta={"synthetic": True})
        self.memo[key] = result
        return result

    def close(self) -> None:
        self.memo.clear()


class OfflineToolSimulator:
    """ToolBackend: replay → per-episode memo → synthetic. Replay indexes are built once per task."""

    def __init__(self) -> None:
        self._cache = TaskToolCache()

    def _prepare(self, task: Task) -> tuple[ReplayIndex, dict, dict]:
        return self._cache.get(task)

    def session(self, task: Task, *, group_key: str | None = None, seed: int | None = None) -> OfflineToolSession:
        index, schemas, tools = self._prepare(task)
        return OfflineToolSession(task, index, schemas, tools)
