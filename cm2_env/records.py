"""Typed episode records: the errors of an episode, what one step returns, and the episode summary.

``info`` stays a plain dict (Gymnasium's contract), built from these with ``to_dict()``; every consumer in
this project (rollout engine, CLIs, the verl agent loop) reads the typed objects instead
(``env.summary``, ``env.afinish()``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from .types import VERDICT_STATUSES, Verdict

ErrorKind = Literal[
    "parse_error",          # the parser failed on the action (the raw text was recorded as the message)
    "malformed_tool_call",  # a tool call whose JSON/arguments could not be read
    "unknown_tool",         # a call to a tool the task does not offer (now)
    "invalid_arguments",    # arguments that violate the tool's JSON Schema
    "tool_error",           # the tool backend answered with an error code of its own (``code`` holds it)
    "tool_backend_error",   # the tool backend raised or failed to close
    "simulator_error",      # the LLM tool simulator could not produce a result
    "user_error",           # the user side failed or produced nothing
    "judge_error",          # the LLM judge raised
    "evaluator_error",      # an end-of-episode evaluator (a benchmark's official checker) raised
    "task_error",           # the task itself is faulty (e.g. a tool schema with an unresolvable $ref)
    "episode_finished",     # step() after the episode ended
]
"""The closed set of error kinds an episode can record."""
ERROR_KINDS: frozenset[str] = frozenset(get_args(ErrorKind))

EndReason = Literal[
    "user_done", "user_error", "early_stop", "tool_error", "max_steps_per_turn", "max_turns", "stopped",
]
"""Why an episode ended (``afinish(reason)`` may give any other string, e.g. ``trainer_response_length``)."""


@dataclass(frozen=True)
class EpisodeError:
    """Something that went wrong inside an episode (recorded as data; the episode goes on or ends cleanly)."""

    kind: ErrorKind
    message: str
    tool: str | None = None
    """The tool involved, for tool errors."""
    call_id: str | None = None
    """The tool call involved, for tool errors."""
    code: str | None = None
    """The backend's own error code when ``kind == "tool_error"``."""

    def __post_init__(self) -> None:
        if self.kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {self.kind!r}; known: {', '.join(sorted(ERROR_KINDS))}")

    @classmethod
    def from_tool(cls, code: str, message: str, tool: str | None, call_id: str | None) -> "EpisodeError":
        """A tool result's error code → a kind of the closed set (other codes become ``tool_error``)."""
        if code in ERROR_KINDS:
            return cls(code, message, tool, call_id)  # type: ignore[arg-type]
        return cls("tool_error", message, tool, call_id, code)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "message": self.message}
        for key in ("tool", "call_id", "code"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass(frozen=True)
class ToolCallRecord:
    """One tool call of the episode and who answered it."""

    id: str
    name: str
    source: str
    """validation, replay, memo, synthetic, llm, executor, backend."""
    error: str | None = None
    """The result's error code (None when the call succeeded)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """The backend's extra facts (e.g. ``synthetic``), recorded flat beside the fields above."""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "source": self.source, "error": self.error, **self.meta}


@dataclass(frozen=True)
class TurnResult:
    """The judged outcome of one user turn (see :mod:`cm2_env.judge.scoring`)."""

    turn: int
    score: float | None
    """None when no item of the turn could be judged."""
    verdicts: dict[str, Verdict]
    required_failed: list[str] = field(default_factory=list)
    """Ids of failed items marked required_for_next_turn (early-stop trigger)."""

    def counts(self) -> dict[str, int]:
        return {s: sum(v.status == s for v in self.verdicts.values()) for s in VERDICT_STATUSES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "turn": self.turn,
            "score": self.score,
            "required_failed": list(self.required_failed),
            "verdicts": [v.to_dict() for v in self.verdicts.values()],
        }


@dataclass(frozen=True)
class EpisodeSummary:
    """Everything the env reports when an episode ends (``info`` of the last step holds its ``to_dict()``)."""

    task_id: str
    score: float | None
    """Trajectory score in [0, 1]; None when no item at all could be judged (reward 0, see ``warnings``)."""
    turns: list[TurnResult]
    """One record per judged turn, in order."""
    num_turns: int
    """The task's user turns."""
    end_reason: str | None
    errors: list[EpisodeError] = field(default_factory=list)
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    evaluations: dict[str, Any] = field(default_factory=dict)
    """End-of-episode verdicts by evaluator name (e.g. ``bfcl``: the official checker's)."""
    usage: dict[str, Any] = field(default_factory=dict)
    """LLM calls/tokens/cost of the simulator, user and judge, per role."""
    warnings: list[str] = field(default_factory=list)

    @property
    def turn_scores(self) -> list[float | None]:
        return [t.score for t in self.turns]

    @property
    def turns_completed(self) -> int:
        return len(self.turns)

    def counts(self) -> dict[str, int]:
        """Verdicts by status over the whole episode."""
        total = dict.fromkeys(VERDICT_STATUSES, 0)
        for t in self.turns:
            for status, n in t.counts().items():
                total[status] += n
        return total

    def items_with(self, status: str) -> list[str]:
        """``t{turn}:{item}`` of every verdict with ``status``."""
        return [f"t{t.turn}:{v.item_id}" for t in self.turns for v in t.verdicts.values() if v.status == status]

    @property
    def tool_errors(self) -> int:
        return sum(1 for c in self.tool_calls if c.error)

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "turn_scores": self.turn_scores,
            "verdicts": [t.to_dict() for t in self.turns],
            "counts": self.counts(),
            "unjudged": self.items_with("unjudged"),
            "judge_errors": self.items_with("error"),
            "warnings": list(self.warnings),
            "end_reason": self.end_reason,
            "turns_completed": self.turns_completed,
            "num_turns": self.num_turns,
            "episode_errors": [e.to_dict() for e in self.errors],
            "tool_calls": [c.to_dict() for c in self.tool_calls],
            "evaluations": dict(self.evaluations),
            "usage": dict(self.usage),
        }


@dataclass
class StepInfo:
    """What one ``step`` reports (``info`` is its ``to_dict()``)."""

    task_id: str
    turn: int
    """The turn the step acted in."""
    step: int
    """Assistant steps so far in that turn (1 = the first)."""
    tools: list[dict[str, Any]] = field(default_factory=list)
    """The tools available to the agent now."""
    new_messages: list[dict[str, Any]] = field(default_factory=list)
    """What the env appended after the assistant message (tool results, the next user message)."""
    errors: list[EpisodeError] = field(default_factory=list)
    """This step's errors."""
    tool_results: list[ToolCallRecord] | None = None
    """The step's tool calls, when it made any."""
    turn_result: TurnResult | None = None
    """The judged turn, when the step ended one."""
    early_stop: dict[str, Any] | None = None
    """``{"turn", "items"}`` when a failed required item ended the episode."""
    summary: EpisodeSummary | None = None
    """The episode summary, when the step ended the episode."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"task_id": self.task_id, "turn": self.turn, "step": self.step}
        if self.tool_results is not None:
            out["tool_results"] = [r.to_dict() for r in self.tool_results]
        if self.turn_result is not None:
            out["turn_result"] = self.turn_result.to_dict()
        if self.early_stop is not None:
            out["early_stop"] = self.early_stop
        out["errors"] = [e.to_dict() for e in self.errors]
        out["tools"] = self.tools
        out["new_messages"] = self.new_messages
        if self.summary is not None:
            out.update(self.summary.to_dict())
        return out
