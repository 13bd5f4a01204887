"""Built-in check types on the turn's tool calls: ``tool_called`` and ``tool_not_called``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .base import CheckContext, CheckOutcome, CheckSpec, register_check
from .matching import Pattern, args_match


class ArgConstraint(BaseModel):
    """A constraint on one tool-call argument. Exactly one of the operator fields is set."""

    model_config = ConfigDict(extra="forbid")

    equals: Any = Field(None, description="The value must equal this (numbers compare by value: 1 == 1.0).")
    one_of: list[Any] | None = Field(None, description="The value must equal one of these.")
    regex: Pattern | None = Field(None, description="The value, as a string, must fully match this regex.")
    contains: str | None = Field(None, description="The value, as a string, must contain this (case-insensitive).")
    approx: float | None = Field(None, description="The value must be a number within `tol` of this.")
    tol: float = Field(1e-6, description="Absolute tolerance used with `approx`.")
    present: bool | None = Field(None, description="Only require the argument to be present (true) or absent (false).")

    @model_validator(mode="after")
    def _one_operator(self) -> "ArgConstraint":
        set_ops = [k for k in ("one_of", "regex", "contains", "approx", "present") if getattr(self, k) is not None]
        if "equals" in self.model_fields_set:
            set_ops.append("equals")
        if len(set_ops) != 1:
            raise ValueError(f"exactly one operator must be set, got {set_ops or 'none'}")
        return self


class ToolCalledCheck(CheckSpec):
    """Passes if, in this turn, the assistant called `name` with arguments meeting `args`."""

    type: Literal["tool_called"] = "tool_called"
    name: str = Field(description="Tool (function) name that must be called.")
    args: dict[str, ArgConstraint] = Field(
        default_factory=dict, description="Per-argument constraints, keyed by argument name."
    )
    match: Literal["subset", "exact"] = Field(
        "subset",
        description="`subset`: other arguments may be present; `exact`: no argument beyond those in `args`.",
    )
    after: list[str] = Field(
        default_factory=list,
        description="Tool names that must have been called (in this turn) before the matching call.",
    )
    min_count: int = Field(1, ge=1, description="How many matching calls are needed in the turn.")

    tool_fields = ("name",)


class ToolNotCalledCheck(CheckSpec):
    """Passes if, in this turn, no call to `name` (with arguments meeting `args`, if given) was made."""

    type: Literal["tool_not_called"] = "tool_not_called"
    name: str = Field(description="Tool name that must not be called. `*` means any tool.")
    args: dict[str, ArgConstraint] = Field(
        default_factory=dict, description="Only calls whose arguments meet all these constraints count."
    )

    tool_fields = ("name",)


@register_check(ToolCalledCheck)
def tool_called(c: ToolCalledCheck, ctx: CheckContext) -> CheckOutcome:
    """Calls refused by validation were attempted but never ran: they neither match nor count for ``after``."""
    seen: set[str] = set()
    hits = 0
    executed = [call for call in ctx.view.calls if not (call.call_id and call.call_id in ctx.rejected_call_ids)]
    for call in executed:
        if call.name == c.name and args_match(c.args, call.arguments, c.match == "exact") and all(
            a in seen for a in c.after
        ):
            hits += 1
            if hits >= c.min_count:
                return CheckOutcome(True, call.step, f"{call.name} called with matching arguments")
        seen.add(call.name)
    called = [call.name for call in ctx.view.calls]
    why = f"no matching call to {c.name}" + (f" (calls: {', '.join(called)})" if called else " (no tool calls)")
    return CheckOutcome(False, None, why)


@register_check(ToolNotCalledCheck)
def tool_not_called(c: ToolNotCalledCheck, ctx: CheckContext) -> CheckOutcome:
    """Any attempted call counts, refused ones included: the agent tried to do what it must not."""
    for call in ctx.view.calls:
        if (c.name == "*" or call.name == c.name) and (not c.args or args_match(c.args, call.arguments)):
            return CheckOutcome(False, call.step, f"forbidden call to {call.name} at step {call.step}")
    return CheckOutcome(True, None, f"{c.name} not called")
