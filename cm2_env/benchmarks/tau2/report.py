"""How ``cm2 view`` reads tau2's official verdicts (registered by this folder's plugin)."""

from __future__ import annotations

from typing import Any

from ...rollout import EpisodeRecord
from ...viewer.evaluations import EvaluationSummariser, checklist_perfect, register_evaluation_summariser


def _summary(records: list[EpisodeRecord]) -> dict[str, Any]:
    from .cli import summarize  # the same numbers `cm2 eval tau2` prints

    trials = max((sum(1 for r in records if r.task_id == t) for t in {r.task_id for r in records}), default=1)
    out = summarize(records, trials)
    out["pass_hat"] = {str(k): v for k, v in out["pass_hat"].items()}
    return out


def _episode(ev: dict[str, Any], record: EpisodeRecord) -> dict[str, Any]:
    ev = ev if isinstance(ev, dict) else {}
    reward = ev.get("reward")
    passed = None if reward is None else reward >= 1.0 - 1e-9  # None: needs an LLM judge, not scored
    fields = {k: ev[k] for k in ("reward", "reward_without_nl", "db_match", "needs_llm", "termination_reason",
                                 "reward_breakdown", "note", "error") if k in ev}
    return {"passed": passed, "agree": None if passed is None else passed == checklist_perfect(record.score),
            "fields": fields}


register_evaluation_summariser(EvaluationSummariser(
    "tau2", _summary, _episode, metric="avg_reward", label="τ² avg reward"))
