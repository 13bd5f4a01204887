"""Difficulty selection: drop easy conversations with a probability set per metric value.

    cm2 data select rl_pool.jsonl --out selected.jsonl --seed 42 \\
        --drop-ratios '{"num_turns": {"1": 0.5}}'

Each record's statistics (:mod:`cm2_env.data.stats`) are looked up in ``drop_ratios`` — metric → {value:
drop probability}; every metric whose value is listed contributes its ratio, and they combine as independent
drops, ``p = 1 - Π(1 - r_i)`` (``default_drop_ratio`` when none applies). The shipped defaults are the CM2
authors' (``pipeline/utils/filter_by_stats.py``): one-turn, one-tool, one-call conversations are thinned out.
A given ``drop_ratios`` replaces the defaults metric by metric (``{"num_candidate_tools": {}}`` turns one off).

The draw is seeded per record — a hash of ``seed`` and the record id — so the selection does not depend on
the input's order, and a resumed run decides as the first did. Dropped records go to the rejected file with
their probability and the metric values behind it; kept records carry ``meta.stats``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import field_validator

from .io import StageOutput
from .record import meta as record_meta
from .stage import StageOptions, StageSpec
from .stats import METRICS, Distributions, iter_record_stats

REFERENCE_DROP_RATIOS: dict[str, dict[int, float]] = {
    "tool_calls_total": {1: 0.3, 2: 0.3, 3: 0.0},
    "max_parallel_tool_calls": {1: 0.0},
    "max_assistant_steps": {1: 0.3, 2: 0.0},
    "num_turns": {1: 0.4, 3: 0.0},
    "num_selected_tools": {1: 0.4},
    "num_candidate_tools": {1: 0.7, 2: 0.4, 3: 0.0, 6: 0.0, 10: 0.0},
    "num_assistant_messages": {1: 0.2, 2: 0.3},
}
"""The CM2 authors' drop ratios (metric → {value: probability})."""


class Options(StageOptions):
    seed: int = 42
    """Seed of the per-record draws."""
    drop_ratios: dict[str, dict[int, float]] = REFERENCE_DROP_RATIOS
    """metric → {value: drop probability}; replaces the defaults metric by metric."""
    default_drop_ratio: float = 0.0
    """Drop probability of a record no listed metric value applies to."""
    leading_system_as_turn: bool = False
    """Count messages before the first user message as a turn (the reference's num_turns)."""

    @field_validator("drop_ratios", mode="before")
    @classmethod
    def _merge(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, dict):
            return value
        unknown = sorted(set(map(str, value)) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; known: {', '.join(METRICS)}")
        merged = {k: dict(v) for k, v in REFERENCE_DROP_RATIOS.items()}
        for k, v in value.items():
            merged[str(k)] = v if v is not None else {}
        return merged

    @field_validator("drop_ratios")
    @classmethod
    def _in_range(cls, value: dict[str, dict[int, float]]) -> dict[str, dict[int, float]]:
        for metric, mapping in value.items():
            for v, r in mapping.items():
                if not 0.0 <= r <= 1.0:
                    raise ValueError(f"drop_ratios.{metric}.{v} = {r} is not a probability in [0, 1]")
        return value

    @field_validator("default_drop_ratio")
    @classmethod
    def _default_in_range(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"default_drop_ratio = {value} is not a probability in [0, 1]")
        return value


def uniform(seed: int, rid: str) -> float:
    """A number in [0, 1) fixed by ``seed`` and the record id."""
    h = hashlib.sha256(f"{seed}\x00{rid}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64


def drop_probability(stats: dict[str, Any], options: Options) -> tuple[float, list[str]]:
    """(p, the metric values that set it, as ``metric=value→ratio``)."""
    keep = 1.0
    why = []
    matched = False
    for metric, mapping in options.drop_ratios.items():
        v = stats.get(metric)
        if isinstance(v, int) and v in mapping:
            matched = True
            r = float(mapping[v])
            keep *= 1.0 - r
            if r > 0:
                why.append(f"{metric}={v}->{r:g}")
    if not matched:
        return float(options.default_drop_ratio), []
    return 1.0 - keep, why


def run_select(inp: Path, out: Path, options: Options, *, resume: bool = True) -> dict[str, Any]:
    before, after = Distributions(), Distributions()
    with StageOutput(out, "select", resume=resume, options=options.model_dump(mode="json"), input=str(inp),
                     options_changed="fresh") as so:
        for record, st in iter_record_stats(inp, so, leading_system_as_turn=options.leading_system_as_turn):
            before.add(st)
            p, why = drop_probability(st, options)
            if p > 0 and uniform(options.seed, record["id"]) < p:
                so.reject(record, [f"difficulty: dropped with p={p:.3f} ({', '.join(why) or 'default ratio'})"])
                continue
            record_meta(record)["stats"] = st
            after.add(st)
            so.keep(record)
        b, a = before.summary(), after.summary()
        return so.finish(
            this_run={"before": {m: {k: s.get(k) for k in ("count", "mean")} for m, s in b.items()},
                      "after": {m: {k: s.get(k) for k in ("count", "mean")} for m, s in a.items()}},
            distributions_this_run={"before": b, "after": a},
        )


STAGE = StageSpec("select", Options, run_select,
                  "difficulty selection: seeded drops by per-metric-value ratios (the reference's defaults)")
add_parser, run = STAGE.cli()
