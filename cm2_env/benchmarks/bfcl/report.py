"""How ``cm2 view`` reads BFCL's official verdicts (registered by this folder's plugin)."""

from __future__ import annotations

from typing import Any

from ...rollout import EpisodeRecord
from ...viewer.evaluations import EvaluationSummariser, checklist_perfect, register_evaluation_summariser


def _summary(records: list[EpisodeRecord]) -> dict[str, Any]:
    from .cli import summarize  # the same numbers `cm2 eval bfcl` prints

    return summarize(records)


def _episode(ev: dict[str, Any], record: EpisodeRecord) -> dict[str, Any]:
    ev = ev if isinstance(ev, dict) else {}
    valid = bool(ev.get("valid"))
    fields = {k: ev[k] for k in ("valid", "accuracy", "error_type", "error_message", "checker_error", "error")
              if k in ev}
    if "decoded" in ev:
        fields["decoded"] = ev["decoded"]
    return {"passed": valid, "agree": valid == checklist_perfect(record.score), "fields": fields}


register_evaluation_summariser(EvaluationSummariser(
    "bfcl", _summary, _episode, metric="official_accuracy", label="BFCL accuracy"))
