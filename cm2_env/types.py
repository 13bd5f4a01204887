"""Episode-level data types shared by the env, simulators, users and judges."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

VerdictStatus = Literal["passed", "failed", "unjudged", "error"]
"""passed/failed count in the score; unjudged (no check, no LLM judge) and error (the judge failed) do not."""
VERDICT_STATUSES: tuple[str, ...] = get_args(VerdictStatus)


@dataclass
class ToolCall:
    """One tool call made by the assistant, as parsed from its message."""

    id: str
    """Tool-call id (from the model, or generated)."""
    name: str
    """Function name ('' when it could not be parsed)."""
    arguments: dict[str, Any] | None
    """Parsed arguments; None when they could not be parsed into an object."""
    raw_arguments: str = ""
    """Arguments as the model wrote them."""
    parse_error: str | None = None
    """Why the call is malformed (None when it parsed)."""

    def to_openai(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.raw_arguments}}


@dataclass
class ToolResult:
    """What a tool backend returns for one call."""

    content: str
    """The tool message content shown to the agent (JSON text)."""
    source: str
    """Who produced it: validation, replay, memo, synthetic, llm, executor, parse."""
    error: str | None = None
    """Error code when the call failed (unknown_tool, invalid_arguments, malformed_tool_call, ...)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Extra facts (e.g. synthetic=True, usage) recorded in info, not shown to the agent."""


@dataclass
class UserReply:
    """What the user side says after the assistant finished a turn."""

    content: str | None
    """Next user message; None when the user has nothing more to say."""
    done: bool = False
    """The user ended the conversation."""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Verdict:
    """The judgement of one checklist item in one turn."""

    item_id: str
    status: VerdictStatus
    step: int | None = None
    """Message index within the turn (0 = user message) where the item was satisfied."""
    rationale: str = ""
    source: str = "rule"
    """Which judge decided it: rule, llm, none."""
    counted: bool = True
    """False when dependence gating discarded a pass."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.item_id, "status": self.status, "step": self.step,
            "rationale": self.rationale, "source": self.source, "counted": self.counted,
        }
