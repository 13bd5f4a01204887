"""How ``cm2 view`` reads ToolSandbox's official verdicts (registered by this folder's plugin)."""

from __future__ import annotations

from typing import Any

from ...rollout import EpisodeRecord
from ...viewer.evaluations import EvaluationSummariser, checklist_perfect, register_evaluation_summariser


def _summary(records: list[EpisodeRecord]) -> dict[str, Any]:
    from .cli import category_summary, per_scenario_of  # the same numbers `cm2 eval toolsandbox` prints

    per_scenario = per_scenario_of(records, {}, {})
    cats = category_summary(per_scenario)
    perfect = [s["similarity"] >= 1.0 - 1e-9 for s in per_scenario]
    agree = [p == checklist_perfect(r.score) for p, r in zip(perfect, records)]
    return {"episodes": len(records), "similarity": cats.get("ALL_CATEGORIES", {}).get("similarity"),
            "per_category": {c: v.get("similarity") for c, v in sorted(cats.items())},
            "agreement": sum(agree) / len(agree) if agree else None}


def _episode(ev: dict[str, Any], record: EpisodeRecord) -> dict[str, Any]:
    ev = ev if isinstance(ev, dict) else {}
    sim = ev.get("similarity")
    passed = None if sim is None else sim >= 1.0 - 1e-9
    fields = {k: ev[k] for k in ("similarity", "milestone_similarity", "minefield_similarity", "turn_count",
                                 "categories", "error") if k in ev}
    return {"passed": passed, "agree": None if passed is None else passed == checklist_perfect(record.score),
            "fields": fields}


register_evaluation_summariser(EvaluationSummariser(
    "toolsandbox", _summary, _episode, metric="similarity", label="ToolSandbox similarity"))
