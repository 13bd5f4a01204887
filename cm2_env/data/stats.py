"""Per-conversation statistics (the difficulty metrics ``select`` drops by) and their distributions.

    cm2 data stats filtered.jsonl --out stats.jsonl [--plots-dir plots/] [--no-plots]

Writes one line per record (``{"id", <metric>: value, ...}``, the CM2 authors' ``data_distribution.jsonl``),
the report (per metric: count, mean, min, max, percentiles and the full value histogram) and, when
matplotlib is installed (``pip install 'cm2-env[viz]'``), one histogram PNG per metric. The distributions are
counted as the input streams (a histogram per metric), so memory does not grow with the input.

Metrics (as the authors compute them):

- ``num_turns``: user turns;
- ``tool_calls_total``: tool calls over the whole conversation;
- ``max_parallel_tool_calls``: the most calls one assistant message makes;
- ``num_candidate_tools``: tools offered;
- ``num_selected_tools``: distinct tools called;
- ``max_assistant_steps``: the most assistant messages within one user turn;
- ``num_assistant_messages``: assistant messages in total.

One deliberate difference: the reference counts messages before the first user message (a system prompt) as
a turn of their own; ``leading_system_as_turn=true`` reproduces that.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from .io import StageOutput, iter_records
from .rules import record_shape_problem
from .stage import StageOptions, StageSpec

METRICS = (
    "num_turns",
    "tool_calls_total",
    "max_parallel_tool_calls",
    "num_candidate_tools",
    "num_selected_tools",
    "max_assistant_steps",
    "num_assistant_messages",
)


def compute_stats(messages: list[dict[str, Any]], tools: list[Any] | None,
                  *, leading_system_as_turn: bool = False) -> dict[str, int]:
    """The metrics of one conversation (see the module docstring)."""
    num_turns = 0
    calls_total = 0
    max_parallel = 0
    used: set[str] = set()
    max_steps = 0
    steps = 0
    in_turn = False
    assistants = 0
    leading = False
    for m in messages:
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        if role == "user":
            num_turns += 1
            if in_turn:
                max_steps = max(max_steps, steps)
            in_turn, steps = True, 0
        else:
            if num_turns == 0:
                leading = True
            if role == "assistant":
                assistants += 1
                if in_turn:
                    steps += 1
                calls = m.get("tool_calls") or []
                if isinstance(calls, list) and calls:
                    max_parallel = max(max_parallel, len(calls))
                    calls_total += len(calls)
                    for c in calls:
                        fn = c.get("function") if isinstance(c, dict) else None
                        name = fn.get("name") if isinstance(fn, dict) else None
                        if isinstance(name, str) and name:
                            used.add(name)
    if in_turn:
        max_steps = max(max_steps, steps)
    return {
        "num_turns": num_turns + (1 if leading_system_as_turn and leading else 0),
        "tool_calls_total": calls_total,
        "max_parallel_tool_calls": max_parallel,
        "num_candidate_tools": len(tools) if isinstance(tools, list) else 0,
        "num_selected_tools": len(used),
        "max_assistant_steps": max_steps,
        "num_assistant_messages": assistants,
    }


def record_stats(record: dict[str, Any], *, leading_system_as_turn: bool = False) -> dict[str, int]:
    return compute_stats(record.get("messages") or [], record.get("tools") or [],
                         leading_system_as_turn=leading_system_as_turn)


class Distributions:
    """Streaming histograms of the metrics (value → count per metric)."""

    def __init__(self, metrics: tuple[str, ...] = METRICS):
        self.hist: dict[str, Counter] = {m: Counter() for m in metrics}

    def add(self, stats: dict[str, Any]) -> None:
        for m, h in self.hist.items():
            v = stats.get(m)
            if isinstance(v, int):
                h[v] += 1

    def summary(self) -> dict[str, Any]:
        return {m: summarize(h) for m, h in self.hist.items()}


def iter_record_stats(inp: Path, so: StageOutput, *, leading_system_as_turn: bool = False
                      ) -> Iterator[tuple[dict[str, Any], dict[str, int]]]:
    """``(record, its statistics)`` for each readable record of ``inp``; malformed ones are rejected on ``so``."""
    for _, record in iter_records(inp, so):
        shape = record_shape_problem(record)
        if shape is not None:
            so.reject(record, [f"malformed: {shape}"])
            continue
        yield record, record_stats(record, leading_system_as_turn=leading_system_as_turn)


def summarize(hist: Counter) -> dict[str, Any]:
    n = sum(hist.values())
    if not n:
        return {"count": 0}
    values = sorted(hist)

    def pct(q: float) -> int:
        target, acc = q * n, 0
        for v in values:
            acc += hist[v]
            if acc >= target:
                return v
        return values[-1]

    return {
        "count": n,
        "mean": round(sum(v * c for v, c in hist.items()) / n, 4),
        "min": values[0],
        "max": values[-1],
        "p50": pct(0.5),
        "p90": pct(0.9),
        "p99": pct(0.99),
        "histogram": {str(v): hist[v] for v in values},
    }


def plot_histograms(summary: dict[str, Any], out_dir: Path, title: str = "") -> tuple[list[str], str | None]:
    """One PNG per metric into ``out_dir`` (bars: one per value); (paths, None) or ([], why none)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], "matplotlib is not installed (pip install 'cm2-env[viz]')"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for metric, s in summary.items():
        hist = s.get("histogram")
        if not hist:
            continue
        xs = [int(v) for v in hist]
        ys = list(hist.values())
        fig, ax = plt.subplots(figsize=(8, 4.5))
        ax.bar(xs, ys, width=0.9, color="#4C78A8", edgecolor="white")
        ax.set_title(f"{metric}{' - ' + title if title else ''} (n={s['count']}, mean={s['mean']})")
        ax.set_xlabel(metric)
        ax.set_ylabel("records")
        ax.grid(True, axis="y", alpha=0.25)
        fig.tight_layout()
        path = out_dir / f"{metric}_hist.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(str(path))
    return paths, None


class Options(StageOptions):
    plots: bool = True
    """Write one histogram PNG per metric (needs matplotlib, the viz extra)."""
    plots_dir: str | None = None
    """Where the PNGs go (default: OUT's name with .plots, beside it)."""
    leading_system_as_turn: bool = False
    """Count messages before the first user message as a turn (the reference's count)."""


def run_stats(inp: Path, out: Path, options: Options, *, resume: bool = True) -> dict[str, Any]:
    dist = Distributions()
    # the distributions are over the whole input, so the per-record file is always rewritten
    with StageOutput(out, "stats", resume=False, options=options.model_dump(mode="json"), input=str(inp)) as so:
        for record, st in iter_record_stats(inp, so, leading_system_as_turn=options.leading_system_as_turn):
            dist.add(st)
            so.keep({"id": record["id"], **st})
        summary = dist.summary()
        plots, why = [], "plots off"
        if options.plots:
            stem = out.name[:-6] if out.name.endswith(".jsonl") else out.name
            plots, why = plot_histograms(summary, Path(options.plots_dir) if options.plots_dir
                                         else out.with_name(stem + ".plots"), title=Path(inp).name)
        extra: dict[str, Any] = {"records": so.kept, "distributions": summary, "plots": plots}
        if why and not plots:
            extra["plots_skipped"] = why
        return so.finish(**extra)


STAGE = StageSpec("stats", Options, run_stats,
                  "per-conversation difficulty statistics, their distributions and histogram PNGs",
                  chain=False)
add_parser, run = STAGE.cli()
