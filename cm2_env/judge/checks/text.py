"""Built-in check types on text: ``reply_matches`` (user-visible replies) and ``tool_result_matches``.

Semantics, shared by both (the README table states the same):

* the *scope* is the texts the check looks at — the turn's replies (thinking stripped; only the final one with
  ``final_only``) or the turn's tool results (only those of ``name``, when given);
* ``none`` applies to every text in scope: one forbidden string anywhere fails the check;
* the positive conditions (``any``, ``all``, ``regex``) must all hold in ONE text of the scope — conditions met
  by different replies do not add up;
* ``tool_result_matches`` needs at least one result in scope (a check on a result that never came is failed);
  ``reply_matches`` with only ``none`` passes when no reply contains a forbidden string.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import CheckContext, CheckOutcome, CheckSpec, register_check
from .matching import Pattern, forbidden_in, positive_match


class TextMatch(CheckSpec):
    """Text conditions (at least one must be given)."""

    any: list[str] = Field(default_factory=list, description="At least one of these substrings must occur.")
    all: list[str] = Field(default_factory=list, description="All of these substrings must occur.")
    none: list[str] = Field(default_factory=list, description="None of these substrings may occur.")
    regex: Pattern | None = Field(None, description="This regex must be found (re.search semantics).")
    case_sensitive: bool = Field(False, description="Compare case-sensitively.")

    @model_validator(mode="after")
    def _some_condition(self):
        if not (self.any or self.all or self.none or self.regex):
            raise ValueError("a text match needs at least one of any/all/none/regex")
        return self

    @property
    def has_positive(self) -> bool:
        return bool(self.any or self.all or self.regex)


class ReplyMatchesCheck(TextMatch):
    """Passes if a user-visible assistant reply in this turn (thinking stripped) matches."""

    type: Literal["reply_matches"] = "reply_matches"
    final_only: bool = Field(False, description="Only look at the turn's final reply (the one without tool calls).")


class ToolResultMatchesCheck(TextMatch):
    """Passes if a tool result in this turn (optionally of tool `name`) matches."""

    type: Literal["tool_result_matches"] = "tool_result_matches"
    name: str | None = Field(None, description="Only results of calls to this tool count.")

    tool_fields = ("name",)


def texts_match(c: TextMatch, texts: list[tuple[int, str]], what: str) -> CheckOutcome:
    for step, text in texts:
        bad = forbidden_in(c, text)
        if bad is not None:
            return CheckOutcome(False, step, f"{what} at step {step} contains forbidden {bad!r}")
    if not c.has_positive:
        return CheckOutcome(True, None, f"no {what} contains a forbidden string")
    for step, text in texts:
        if positive_match(c, text):
            return CheckOutcome(True, step, f"{what} at step {step} matches")
    return CheckOutcome(False, None, f"no {what} matches" if texts else f"no {what} in this turn")


@register_check(ReplyMatchesCheck)
def reply_matches(c: ReplyMatchesCheck, ctx: CheckContext) -> CheckOutcome:
    replies = [(r.step, r.text) for r in ctx.view.replies if r.final or not c.final_only]
    if c.final_only:
        replies = replies[-1:]
    return texts_match(c, replies, "final reply" if c.final_only else "reply")


@register_check(ToolResultMatchesCheck)
def tool_result_matches(c: ToolResultMatchesCheck, ctx: CheckContext) -> CheckOutcome:
    what = f"{c.name or 'tool'} result"
    results = [(r.step, r.content) for r in ctx.view.results if c.name is None or r.name == c.name]
    if not results:
        return CheckOutcome(False, None, f"no {what} in this turn")
    return texts_match(c, results, what)
