"""Typed data model of a cm2 task: tools, user side, reference trajectory and per-turn checklists.

The JSON Schema shipped beside this module (``task.schema.json``) is generated from these models
(``python -m cm2_env.tasks.schema``); a test keeps the two in sync.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator

from ..judge.checks import (  # noqa: F401 - the built-in check models, re-exported for task authors
    CHECKS,
    ArgConstraint,
    CheckSpec,
    ReplyMatchesCheck,
    ToolCalledCheck,
    ToolNotCalledCheck,
    ToolResultMatchesCheck,
)

FocusOn = Literal[
    "assistant.tool_calls",
    "assistant.content.user_visible_reply",
    "assistant.content.thinking",
    "tool.content",
]
"""What part of the trajectory a checklist item looks at (CM2's ``focus_on`` enum)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- checklist


class Evidence(_Model):
    """A pointer into the reference trajectory that justifies a checklist item (CM2 format)."""

    turn: int = Field(description="User-turn index in the reference (0-based).")
    step: int = Field(description="Message index within the turn (0 = the user message).")
    from_: str = Field(alias="from", description="Which field the snippet is taken from (a focus_on value).")
    snippet: str = Field(description="Verbatim text from the reference.")


class ChecklistItem(_Model):
    """One binary, evidence-grounded criterion for one user turn."""

    id: str = Field(description="Item id, unique within its turn (e.g. C0).")
    question: str = Field(description="Yes/no question the judge answers.")
    pass_condition: str = Field("", description="What must be observed for a yes.")
    focus_on: FocusOn = Field("assistant.tool_calls", description="Part of the trajectory the item looks at.")
    evidence: list[Evidence] = Field(default_factory=list, description="Where the reference satisfies the item.")
    failure_examples: list[str] = Field(default_factory=list, description="Typical ways to fail it.")
    required_for_next_turn: bool = Field(False, description="If it fails, the episode ends after this turn.")
    dependence: list[str] = Field(default_factory=list, description="Ids of items (same turn) it depends on.")
    weight: float = Field(ge=0, description="Weight; the weights of one turn sum to 1.")
    check: SerializeAsAny[CheckSpec] | None = Field(
        None, description="Programmatic check deciding the item without an LLM (any registered check type)."
    )
    extra_info: dict[str, Any] = Field(default_factory=dict, description="Anything else carried by the source.")

    @field_validator("check", mode="before")
    @classmethod
    def _registered_check(cls, value: Any) -> Any:
        return None if value is None else CHECKS.parse(value)


# --------------------------------------------------------------------------- task


class Message(BaseModel):
    """An OpenAI-format chat message (extra keys such as `tool_call_id` or `name` are kept)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool"] = Field(description="Who speaks.")
    content: str | None = Field(None, description="Text (may contain a <think> block for assistants).")
    tool_calls: list[dict[str, Any]] | None = Field(None, description="OpenAI tool calls (assistant only).")


class Turn(_Model):
    """One user turn: what the scripted user says and the checklist the assistant's answer is judged by."""

    user: str | None = Field(None, description="Scripted user message opening this turn (None if an LLM user speaks).")
    checklist: list[ChecklistItem] = Field(default_factory=list, description="Criteria for this turn.")


class UserProfile(_Model):
    """The user side for an LLM-simulated user."""

    persona: str | None = Field(None, description="Who the user is and how they talk.")
    goal: str | None = Field(None, description="What the user wants to get done.")
    hidden_info: str | None = Field(None, description="Facts the user knows and reveals only when asked.")
    max_turns: int | None = Field(None, ge=1, description="Upper bound on user turns for an LLM user.")


class Task(_Model):
    """A multi-turn tool-use task with checklist labels."""

    id: str = Field(description="Unique task id.")
    domain: str = Field("general", description="Domain label (travel, banking, ...).")
    system_prompt: str = Field("", description="System prompt shown to the agent (tools are added by the env).")
    tools: list[dict[str, Any]] = Field(description="Tool schemas in OpenAI function format.")
    turns: list[Turn] = Field(min_length=1, description="User turns, each with its checklist.")
    user: UserProfile | None = Field(None, description="Persona/goal for an LLM user.")
    reference: list[Message] | None = Field(None, description="Reference trajectory (OpenAI messages, no system).")
    checklist_variants: list[list[list[ChecklistItem]]] = Field(
        default_factory=list,
        description="Alternative checklists [variant][turn][item] (CM2 ships several); `turns` holds the active one.",
    )
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free-form metadata (source, tags, ...).")

    # ---------------------------------------------------------------- derived views

    @property
    def tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in self.tools]

    def tools_for_turn(self, turn: int) -> list[dict[str, Any]]:
        """The tools the agent may use in ``turn``: ``metadata["tools_available_from_turn"]`` ({name: turn})
        holds tools back until a later turn (e.g. BFCL's missing-function category); all others from turn 0."""
        reveal = self.metadata.get("tools_available_from_turn")
        if not reveal:
            return self.tools
        return [t for t in self.tools if int(reveal.get(t["function"]["name"], 0)) <= turn]

    def reference_turns(self) -> list[list[dict[str, Any]]]:
        """The reference split at user messages: turn i = [user, assistant/tool ...]."""
        turns: list[list[dict[str, Any]]] = []
        for msg in self.reference or []:
            m = msg.model_dump(exclude_none=True)
            if m["role"] == "user" or not turns:
                turns.append([])
            turns[-1].append(m)
        return turns


class TaskFile(_Model):
    """A task file: a list of tasks (a bare JSON list of tasks is accepted too)."""

    version: int = Field(1, description="Format version.")
    name: str | None = Field(None, description="Suite name.")
    tasks: list[Task] = Field(description="The tasks.")
