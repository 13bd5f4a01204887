"""The rule engine: decides checklist items that carry a programmatic ``check`` (no LLM).

Each item's check is looked up in the check registry (:mod:`.checks`) and decided from the turn's read-only
:class:`~.checks.CheckContext`. A check that raises (a bad regex in a task file, an outcome check whose
benchmark is missing) gives an ``error`` verdict: left out of the score and reported, never a 0.
"""

from __future__ import annotations

from ..tasks.models import ChecklistItem
from ..types import Verdict
from .base import TurnJudgeRequest
from .checks import CHECKS, CheckContext
from .checks.matching import CheckTimeout, check_budget

NO_JUDGE = "no programmatic check and no LLM judge"


def decide(item: ChecklistItem, ctx: CheckContext) -> Verdict:
    """The verdict of one item with a check."""
    if item.check is None:
        return Verdict(item.id, "unjudged", None, NO_JUDGE, "none")
    try:
        check_type = CHECKS.get(item.check.type)
        with check_budget():
            passed, step, why = check_type.decide(item.check, ctx)
    except CheckTimeout as e:
        return Verdict(item.id, "error", None, f"check timed out: {e}", "rule")
    except Exception as e:  # errors are data: the item is reported, the episode goes on
        return Verdict(item.id, "error", None, f"check failed to run: {type(e).__name__}: {e}", "rule")
    return Verdict(item.id, "passed" if passed else "failed", step, why, "rule")


def decide_all(items: list[ChecklistItem], ctx: CheckContext) -> dict[str, Verdict]:
    """Verdicts of ``items`` (those without a check are ``unjudged``), in item order."""
    return {it.id: decide(it, ctx) for it in items}


class RuleJudge:
    """The rule engine as a :class:`~.base.Judge` (``judge="rule"``): items without a check stay unjudged."""

    async def judge_turn(self, request: TurnJudgeRequest) -> dict[str, Verdict]:
        return self.judge_sync(request)

    def judge_sync(self, request: TurnJudgeRequest) -> dict[str, Verdict]:
        return decide_all(request.items, request.context())
