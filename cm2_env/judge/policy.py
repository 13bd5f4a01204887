"""The judging policy: which judge decides each checklist item.

* an item with a programmatic ``check`` → the rule engine (any registered check type, benchmark ones included);
* an item without one → the configured LLM judge, if any;
* otherwise → ``unjudged`` (reported, left out of the score, never a 0).

The env calls :meth:`JudgingPolicy.judge_turn` once per turn; judge failures come back as ``error`` verdicts
plus an :class:`~cm2_env.records.EpisodeError`, never as an exception.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..records import EpisodeError
from ..tasks.models import ChecklistItem
from ..types import Verdict
from .base import Judge, TurnJudgeRequest
from .rule import NO_JUDGE, RuleJudge, decide_all


@dataclass
class TurnJudgement:
    """The verdicts of one turn and what went wrong while judging it."""

    verdicts: dict[str, Verdict]
    """One verdict per item of the turn, in checklist order."""
    errors: list[EpisodeError] = field(default_factory=list)


class JudgingPolicy:
    """Routes each item to the rule engine, the LLM judge, or ``unjudged``."""

    def __init__(self, llm_judge: Judge | None = None):
        # a rule judge given as "the judge" adds nothing the rule engine does not already do
        self.llm_judge = None if isinstance(llm_judge, RuleJudge) else llm_judge

    def judgeable(self, item: ChecklistItem) -> bool:
        return item.check is not None or self.llm_judge is not None

    async def judge_turn(self, request: TurnJudgeRequest) -> TurnJudgement:
        rule_items = [it for it in request.items if it.check is not None]
        open_items = [it for it in request.items if it.check is None]
        verdicts = decide_all(rule_items, request.context())
        errors: list[EpisodeError] = []
        if open_items and self.llm_judge is None:
            verdicts.update({it.id: Verdict(it.id, "unjudged", None, NO_JUDGE, "none") for it in open_items})
        elif open_items:
            try:
                got = await self.llm_judge.judge_turn(dataclasses.replace(request, items=open_items))
            except Exception as e:  # the judge must not raise; if it does, its items are errors
                got = {}
                errors.append(EpisodeError("judge_error", f"{type(e).__name__}: {e}"))
            for it in open_items:
                verdicts[it.id] = got.get(it.id) or Verdict(it.id, "error", None, "judge returned no verdict", "llm")
        return TurnJudgement({it.id: verdicts[it.id] for it in request.items}, errors)
