"""LLM tool simulator: replay → group memo → LLM, with a world that stays consistent within an episode.

The env has already validated each call (known tool, arguments valid for the schema). For a call the reference
recorded (same canonical arguments) the recorded result is replayed. Otherwise the call is looked up in the
memo of its GRPO group (``group_key``): all rollouts of a group that make the same canonical call share one
LLM call — also when they make it concurrently (the in-flight request is shared). Only then is the LLM asked,
with a prompt holding the tool's schema, the arguments, the task's reference calls and results as few-shot
examples (within a token budget) and the results this episode has already produced.

A simulator failure (server down, unusable output after re-asks) becomes a flagged error result
(``error="simulator_error"``) that the agent sees as a tool message — never an exception.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter, OrderedDict
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, ClassVar, Literal

from ..llm import LLMClient, LLMConfig, LLMError
from ..llm.role import LLMRole
from ..llm.usage import record
from ..tasks.models import Task
from ..types import ToolCall, ToolResult
from .canonical import call_key, canonical_args
from .replay import ReplayIndex, TaskToolCache

ROLE = "simulator"

RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"result": {"description": "The value the tool returns (any JSON)."}},
    "required": ["result"],
}

SYSTEM_PROMPT = """\
You are the backend of software tools used by an AI assistant. For each call you receive, you return exactly \
what the real tool would return, as JSON.

Rules:
- Follow the tool's description and parameters. Match the style and field names of the example results of \
this task when there are any.
- Stay consistent with the results already returned in this session: the same entities keep the same ids, \
names, prices, balances and states; actions taken earlier (bookings, transfers, cancellations) have happened.
- Be realistic and specific: concrete values, no placeholders, no explanations.
- If the call cannot succeed in that world (unknown id, unavailable item, insufficient funds), return the \
error object the tool would return, e.g. {"error": "...", "message": "..."}.
- Reply with one JSON object and nothing else: {"result": <the tool's return value>}."""


def _approx_tokens(text: str) -> int:
    return len(text) // 4 + 1


def _fmt_call(name: str, args: Any) -> str:
    return f"{name}({json.dumps(args, ensure_ascii=False, sort_keys=True)})"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " …(truncated)"


class _GroupMemo:
    """Results shared by the rollouts of one group, plus their in-flight requests."""

    def __init__(self) -> None:
        self.results: dict[str, ToolResult] = {}
        self.inflight: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future]] = {}
        self.hits = 0


class LLMToolSession:
    """One episode's view of the simulator: its replay counters and the results it has produced."""

    def __init__(self, backend: "LLMToolSimulator", task: Task, group_key: str | None, seed: int | None):
        self.backend = backend
        self.task = task
        self.group_key = group_key
        self.seed = seed
        self.index, self.schemas, self.tools = backend._prepare(task)
        self.occurrences: Counter[str] = Counter()
        self.history: list[tuple[str, Any, str]] = []
        """(tool name, arguments, result content) produced in this episode, in order."""
        self.episode_memo: dict[str, ToolResult] = {}
        self.closed = False

    # ------------------------------------------------------------------ protocol

    async def call(self, call: ToolCall) -> ToolResult:
        try:
            result = await self._call(call)
        except Exception as e:  # last line of defence: the protocol says never raise
            result = self.backend._error_result(call, f"{type(e).__name__}: {e}", "internal")
        self.history.append((call.name, call.arguments, result.content))
        return result

    def close(self) -> None:
        self.closed = True
        self.episode_memo.clear()

    # ------------------------------------------------------------------ chain

    async def _call(self, call: ToolCall) -> ToolResult:
        b = self.backend
        schema = self.schemas.get(call.name)
        key = call_key(call.name, call.arguments, schema)
        occurrence = self.occurrences[key]
        self.occurrences[key] += 1
        if b.replay:
            recorded = self.index.lookup(key, occurrence)
            if recorded is not None:
                return ToolResult(recorded, source="replay")
        memo_key = self._memo_key(key)
        if memo_key in self.episode_memo:
            record(ROLE, memo_hits=1)
            return _as_memo(self.episode_memo[memo_key], "episode")
        group = b._group(self.group_key) if (self.group_key is not None and b.memo == "group") else None
        if group is None:
            result = await b._simulate(self, call)
        else:
            hit = group.results.get(memo_key)
            if hit is not None:
                group.hits += 1
                record(ROLE, memo_hits=1)
                result = _as_memo(hit, "group")
            else:
                result = await self._shared(group, memo_key, call)
        if result.error is None and b.memo != "none":
            self.episode_memo[memo_key] = result
        return result

    async def _shared(self, group: _GroupMemo, memo_key: str, call: ToolCall) -> ToolResult:
        """One LLM request per (group, call), shared by concurrent rollouts of the group."""
        loop = asyncio.get_running_loop()
        entry = group.inflight.get(memo_key)
        if entry is not None and entry[0] is loop and not entry[1].done():
            group.hits += 1
            record(ROLE, memo_hits=1)
            return _as_memo(await asyncio.shield(entry[1]), "group")
        fut: asyncio.Future = loop.create_future()
        group.inflight[memo_key] = (loop, fut)
        try:
            result = await self.backend._simulate(self, call)
        except BaseException as e:  # cancelled (or a bug): waiters get a flagged error, not our exception
            fut.set_result(self.backend._error_result(call, f"shared request failed: {type(e).__name__}", "shared"))
            group.inflight.pop(memo_key, None)
            raise
        if result.error is None:
            group.results[memo_key] = result
        fut.set_result(result)
        group.inflight.pop(memo_key, None)
        return result

    def _memo_key(self, key: str) -> str:
        if self.backend.memo_scope == "history":
            prior = [call_key(n, a, self.schemas.get(n)) for n, a, _ in self.history]
            return key + "\x01" + hashlib.sha256("\x02".join(prior).encode()).hexdigest()[:16]
        return key


def _as_memo(result: ToolResult, scope: str) -> ToolResult:
    return ToolResult(result.content, source="memo", error=result.error,
                      meta={**{k: v for k, v in result.meta.items() if k != "memo"}, "memo": scope})


@dataclass(eq=False)
class LLMToolSimulator(LLMRole):
    """ToolBackend that asks an LLM for results the reference did not record.

    Args:
        llm: role config (``LLMConfig`` fields as a dict, or an ``LLMClient``) of the simulator model.
        replay: replay the reference's recorded result for a canonically identical call first.
        memo: ``group`` (share results across the rollouts of a group_key, and within an episode),
            ``episode`` (within an episode only) or ``none``.
        memo_scope: ``call`` (key = tool + canonical arguments, CM2-style) or ``history`` (key also includes
            the episode's earlier calls, for worlds where the same call can answer differently after actions).
        fewshot_token_budget: approximate token budget of the reference examples in the prompt.
        history_token_budget: approximate token budget of this episode's earlier results in the prompt.
        max_result_chars: longest single example/result shown in the prompt.
        max_groups: groups kept in memory (least recently used dropped first).
        system_prompt: the system prompt (default :data:`SYSTEM_PROMPT`).
    """

    ROLE: ClassVar[str] = ROLE
    _: KW_ONLY
    replay: bool = True
    memo: Literal["group", "episode", "none"] = "group"
    memo_scope: Literal["call", "history"] = "call"
    fewshot_token_budget: int = 1500
    history_token_budget: int = 1500
    max_result_chars: int = 2000
    max_groups: int = 4096
    system_prompt: str | None = None
    _tasks: TaskToolCache = field(init=False, repr=False, default_factory=TaskToolCache)
    _groups: "OrderedDict[str, _GroupMemo]" = field(init=False, repr=False, default_factory=OrderedDict)

    def __post_init__(self, llm: LLMClient | LLMConfig | dict[str, Any] | None) -> None:
        if self.memo not in ("group", "episode", "none"):
            raise ValueError(f"memo must be group, episode or none, got {self.memo!r}")
        if self.memo_scope not in ("call", "history"):
            raise ValueError(f"memo_scope must be call or history, got {self.memo_scope!r}")
        super().__post_init__(llm)
        self.system_prompt = self.system_prompt or SYSTEM_PROMPT

    # ------------------------------------------------------------------ protocol

    def session(self, task: Task, *, group_key: str | None = None, seed: int | None = None) -> LLMToolSession:
        return LLMToolSession(self, task, group_key, seed)

    # ------------------------------------------------------------------ state

    def _prepare(self, task: Task) -> tuple[ReplayIndex, dict, dict]:
        return self._tasks.get(task)

    def _group(self, group_key: str) -> _GroupMemo:
        g = self._groups.get(group_key)
        if g is None:
            g = self._groups[group_key] = _GroupMemo()
            while len(self._groups) > self.max_groups:
                self._groups.popitem(last=False)
        else:
            self._groups.move_to_end(group_key)
        return g

    def memo_stats(self) -> dict[str, int]:
        """Memo hits and stored results per live group (for benchmarks and logs)."""
        return {"groups": len(self._groups), "hits": sum(g.hits for g in self._groups.values()),
                "results": sum(len(g.results) for g in self._groups.values())}

    def forget_group(self, group_key: str) -> None:
        """Drop a finished group's memo (optional; groups also age out after ``max_groups``)."""
        self._groups.pop(group_key, None)

    # ------------------------------------------------------------------ prompt and LLM

    def build_messages(self, session: LLMToolSession, call: ToolCall) -> list[dict[str, str]]:
        tool = session.tools.get(call.name, {"function": {"name": call.name}})
        parts = ["## Tool being called", json.dumps(tool.get("function", tool), ensure_ascii=False)]
        examples = self._examples(session, call.name)
        if examples:
            parts += ["", "## Real calls and results from this task (follow their format)", *examples]
        history = self._history(session)
        if history:
            parts += ["", "## Results already returned in this session (stay consistent with them)", *history]
        parts += ["", "## Call to answer", _fmt_call(call.name, call.arguments or {}), "",
                  'Reply with {"result": ...} only.']
        return [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": "\n".join(parts)}]

    def _examples(self, session: LLMToolSession, name: str) -> list[str]:
        """Reference examples, same tool first, then other tools, within the few-shot budget."""
        ex = session.index.examples
        ordered = [(name, args, content) for args, content in ex.get(name, [])]
        ordered += [(n, args, content) for n, lst in ex.items() if n != name for args, content in lst]
        return self._budgeted(ordered, self.fewshot_token_budget, skip_overflow=True)

    def _history(self, session: LLMToolSession) -> list[str]:
        """This episode's results, most recent kept first within the budget, shown in order."""
        recent = [(n, args or {}, content) for n, args, content in reversed(session.history)]
        return self._budgeted(recent, self.history_token_budget, skip_overflow=False)[::-1]

    def _budgeted(self, calls: list[tuple[str, Any, str]], budget: int, *, skip_overflow: bool) -> list[str]:
        """Prompt lines for (tool, arguments, result) in order while their approximate tokens fit ``budget``;
        one that does not fit is left out (``skip_overflow``: later, shorter ones may still fit) or ends the list.
        """
        out, used = [], 0
        for n, args, content in calls:
            line = f"- {_fmt_call(n, args)} -> {_clip(content, self.max_result_chars)}"
            cost = _approx_tokens(line)
            if used + cost > budget:
                if skip_overflow:
                    continue
                break
            out.append(line)
            used += cost
        return out

    async def _simulate(self, session: LLMToolSession, call: ToolCall) -> ToolResult:
        messages = self.build_messages(session, call)
        try:
            resp = await self.client.chat_json(messages, RESULT_SCHEMA, schema_name="tool_result")
        except LLMError as e:
            return self._error_result(call, e.message, e.kind)
        result = resp.data["result"]
        content = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
        meta: dict[str, Any] = {"simulated": True}
        if resp.cached:
            meta["cached"] = True
        return ToolResult(content, source="llm", meta=meta)

    def _error_result(self, call: ToolCall, message: str, kind: str) -> ToolResult:
        body = {"error": "simulator_error", "message": f"the tool simulator could not answer {call.name}: {kind}"}
        return ToolResult(json.dumps(body), source="llm", error="simulator_error",
                          meta={"simulator_error": kind, "detail": message[:500]})


__all__ = ["LLMToolSimulator", "LLMToolSession", "RESULT_SCHEMA", "SYSTEM_PROMPT", "canonical_args"]
