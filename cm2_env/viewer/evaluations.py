"""Summarisers of the official verdicts a record holds under ``evaluations`` (one per evaluator name).

A benchmark registers how its verdicts read: a run-level summary (its official metric beside the checklist
score, and their per-task agreement) and a per-episode line (pass/fail, the fields worth showing). Evaluators
nobody registered are still shown: their raw key/values per episode and a count of each scalar value per run.

    from cm2_env.viewer.evaluations import EvaluationSummariser, register_evaluation_summariser
    register_evaluation_summariser(EvaluationSummariser("mybench", summarise=..., episode=...))
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

from ..plugins import discover_plugins
from ..rollout import EpisodeRecord

PERFECT_EPS = 1e-9


@dataclass(frozen=True)
class EvaluationSummariser:
    """How one evaluator's verdicts are summarised."""

    name: str
    """The key under ``record.evaluations``."""
    summarise: Callable[[list[EpisodeRecord]], dict[str, Any]]
    """Run-level summary over the records that hold this evaluator's verdict (flat, JSON-ready)."""
    episode: Callable[[dict[str, Any], EpisodeRecord], dict[str, Any]]
    """One episode's verdict → ``{"passed": bool|None, "agree": bool|None, "fields": {...}}``."""
    metric: str | None = None
    """The summary key holding the official metric (shown beside the checklist score)."""
    label: str | None = None
    """Human name of the metric (default: the key)."""


_REGISTRY: dict[str, EvaluationSummariser] = {}


def register_evaluation_summariser(s: EvaluationSummariser) -> EvaluationSummariser:
    _REGISTRY[s.name] = s
    return s


def evaluation_summariser(name: str) -> EvaluationSummariser | None:
    if name not in _REGISTRY:
        discover_plugins()  # a benchmark registers its summariser from its plugin.py
    return _REGISTRY.get(name)


def registered_evaluators() -> list[str]:
    discover_plugins()
    return sorted(_REGISTRY)


def checklist_perfect(score: float | None) -> bool:
    return score is not None and score >= 1.0 - PERFECT_EPS


# -------------------------------------------------------------------------------------------- generic


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def generic_summary(name: str, records: list[EpisodeRecord]) -> dict[str, Any]:
    """Unknown evaluator: per key, how often each scalar value occurs (top 10), and how many episodes."""
    values: dict[str, Counter] = {}
    for r in records:
        ev = r.evaluations.get(name)
        if not isinstance(ev, dict):
            values.setdefault("(value)", Counter())[_short(ev)] += 1
            continue
        for k, v in ev.items():
            if _scalar(v):
                values.setdefault(k, Counter())[_short(v)] += 1
    return {"episodes": len(records),
            "values": {k: dict(c.most_common(10)) for k, c in sorted(values.items())}}


def generic_episode(ev: Any, record: EpisodeRecord) -> dict[str, Any]:
    fields = ev if isinstance(ev, dict) else {"value": ev}
    passed = fields.get("valid", fields.get("passed", fields.get("success")))
    return {"passed": passed if isinstance(passed, bool) else None, "agree": None, "fields": dict(fields)}


def _short(v: Any, n: int = 80) -> str:
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[: n - 1] + "…"


# ------------------------------------------------------------------------------------------- entry points


def summarise_evaluations(records: list[EpisodeRecord]) -> dict[str, dict[str, Any]]:
    """``{evaluator: {"registered", "metric", "label", "summary"}}`` over the records holding each one."""
    names = sorted({k for r in records for k in (r.evaluations or {})})
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        rs = [r for r in records if name in (r.evaluations or {})]
        s = evaluation_summariser(name)
        if s is None:
            out[name] = {"registered": False, "metric": None, "label": name, "summary": generic_summary(name, rs)}
            continue
        try:
            summary = s.summarise(rs)
        except Exception as e:  # a broken summariser must not take the report down: show the raw values
            summary = {**generic_summary(name, rs), "summariser_error": f"{type(e).__name__}: {e}"}
        out[name] = {"registered": True, "metric": s.metric, "label": s.label or s.metric or name,
                     "summary": summary}
    return out


def episode_evaluations(record: EpisodeRecord) -> dict[str, dict[str, Any]]:
    """Per evaluator of one record: ``{"passed", "agree", "fields", "registered"}``."""
    out = {}
    for name, ev in (record.evaluations or {}).items():
        s = evaluation_summariser(name)
        try:
            got = s.episode(ev, record) if s is not None else generic_episode(ev, record)
        except Exception as e:
            got = {**generic_episode(ev, record), "summariser_error": f"{type(e).__name__}: {e}"}
        out[name] = {**got, "registered": s is not None}
    return out
