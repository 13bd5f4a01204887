"""Checklist scoring: turn scores with dependence gating, early-stop detection, trajectory score.

Turn score R_t = Σ w·pass / Σ w over the items actually judged (passed or failed). Unjudged items (no check,
no LLM judge) and judge errors leave the denominator and are reported, never scored as 0.
Veto: a failed item marked ``veto`` sets R_t = 0 (the other verdicts stay as they are; the item's rationale says
so). A veto item that passed, or was not judged, changes nothing.
Trajectory score = (1/L) Σ_t R_t over the task's scorable turns L; turns never reached count 0.
"""

from __future__ import annotations

__all__ = ["TurnResult", "apply_gating", "score_turn", "trajectory_score"]

from ..records import TurnResult
from ..tasks.models import ChecklistItem
from ..types import Verdict

SCORED = ("passed", "failed")
"""The verdict statuses that enter a turn's denominator."""


def apply_gating(items: list[ChecklistItem], verdicts: dict[str, Verdict]) -> None:
    """Mark passes whose dependencies did not (transitively) pass as not counted."""
    by_id = {it.id: it for it in items}
    memo: dict[str, bool] = {}

    def counts(item_id: str, stack: frozenset[str]) -> bool:
        if item_id in memo:
            return memo[item_id]
        v = verdicts.get(item_id)
        ok = v is not None and v.status == "passed"
        if ok and item_id not in stack:
            for dep in by_id[item_id].dependence if item_id in by_id else ():
                if dep in by_id and not counts(dep, stack | {item_id}):
                    ok = False
                    break
        memo[item_id] = ok
        return ok

    for it in items:
        v = verdicts[it.id]
        if v.status == "passed" and not counts(it.id, frozenset()):
            v.counted = False
            v.rationale = (v.rationale + "; " if v.rationale else "") + "not counted: a dependency did not pass"


def score_turn(turn: int, items: list[ChecklistItem], verdicts: dict[str, Verdict], gating: bool = True) -> TurnResult:
    if gating:
        apply_gating(items, verdicts)
    num = den = 0.0
    required_failed = []
    vetoed = False
    for it in items:
        v = verdicts[it.id]
        if v.status not in SCORED:
            continue
        den += it.weight
        passed = v.status == "passed" and v.counted
        num += it.weight * passed
        if it.required_for_next_turn and not passed:
            required_failed.append(it.id)
        if it.veto and v.status == "failed":
            vetoed = True
            v.rationale = (v.rationale + "; " if v.rationale else "") + "veto: the turn scores 0"
    score = (0.0 if vetoed else num / den) if den > 0 else None
    return TurnResult(turn, score, verdicts, required_failed)


def trajectory_score(turn_results: list[TurnResult], unreached_scorable: int) -> float | None:
    """Mean turn score over scored turns plus scorable turns never reached (those count 0).

    A reached turn with no judgeable verdict (all unjudged/error) leaves the denominator, so a judge outage
    does not read as a policy failure; None if nothing at all was scorable.
    """
    scored = [r.score for r in turn_results if r.score is not None]
    den = len(scored) + unreached_scorable
    return sum(scored) / den if den else None
