"""Run an agent on ToolSandbox scenarios: ToolSandbox's per-category mean similarity and turn count.

    cm2 eval toolsandbox --agent reference --out runs/ts_ref.jsonl
    cm2 eval toolsandbox --agent fixed --augmentations all --all-scenarios --out runs/ts_fixed.jsonl

Writes one JSON line per episode (the ``cm2 run`` record, ToolSandbox's verdict under ``evaluations.toolsandbox``;
reruns resume) and ``<out stem>.result_summary.json`` beside it, shaped like ToolSandbox's ``result_summary.json``
(``per_scenario_results``, ``category_aggregated_results`` computed as its ``get_category_summary``). Needs
ToolSandbox (scripts/install_toolsandbox_env.sh).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from ...config import parse_kv
from ...rollout import EpisodeRecord, OutputLockedError, lock_output
from ...runjob import FAILED_END_REASONS, RunJob, add_agent_arguments, agent_kwargs_of

ENV_ID = "cm2/ToolSandbox-v0"
SCRAMBLED = {"TOOL_NAME_SCRAMBLED", "TOOL_DESCRIPTION_SCRAMBLED", "ARG_DESCRIPTION_SCRAMBLED", "ARG_TYPE_SCRAMBLED",
             "ARG_NAME_SCRAMBLED"}


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--augmentations", default="", help="comma-separated augmentation suffixes, or 'all' (default: none)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--local-only", dest="local_only", action="store_true", default=None,
                   help="only scenarios without RapidAPI tools (default without RAPID_API_KEY)")
    g.add_argument("--all-scenarios", dest="local_only", action="store_false", help="include RapidAPI scenarios")
    p.add_argument("--limit", type=int, default=None, help="first N tasks")
    p.add_argument("--tasks", default=None, help="task selector (id globs, comma-separated)")
    p.add_argument("--out", default=None, help="output JSONL (appended; reruns resume)")
    add_agent_arguments(p)


def category_summary(per_scenario: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """ToolSandbox's ``get_category_summary`` + the means of ``write_result_summary``."""
    agg: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for s in per_scenario:
        cats = set(s["categories"])
        for c in s["categories"]:
            if c == "THREE_DISTRACTION_TOOLS" and cats & SCRAMBLED:
                continue
            agg[c]["similarity"].append(s["similarity"])
            agg[c]["turn_count"].append(s["turn_count"])
        agg["ALL_CATEGORIES"]["similarity"].append(s["similarity"])
        agg["ALL_CATEGORIES"]["turn_count"].append(s["turn_count"])
    return {c: {k: sum(v) / len(v) for k, v in a.items()} for c, a in agg.items()}


def per_scenario_of(records: list[EpisodeRecord], max_messages: dict[str, int],
                    categories: dict[str, list[str]]) -> list[dict[str, Any]]:
    out = []
    for r in records:
        ev = r.evaluations.get("toolsandbox") or {}
        ok = "similarity" in ev
        out.append({
            "name": r.task_id, "categories": ev.get("categories", categories.get(r.task_id, [])),
            "traceback": None if ok else (ev.get("error") or r.end_reason),
            "exception_type": None if ok else "EpisodeError",
            "milestone_similarity": ev.get("milestone_similarity", 0), "minefield_similarity": ev.get("minefield_similarity", 0),
            "similarity": ev.get("similarity", 0), "turn_count": ev.get("turn_count", max_messages.get(r.task_id, 30)),
            "milestone_mapping": ev.get("milestone_mapping", {}), "minefield_mapping": ev.get("minefield_mapping", {}),
            "checklist_score": r.score,
        })
    return out


def format_table(summary: dict[str, dict[str, float]]) -> str:
    head = f"{'category':<28} {'similarity':>10} {'turn_count':>10}"
    rows = [head, "-" * len(head)]
    for c in sorted(summary, key=lambda c: (c == "ALL_CATEGORIES", c)):
        rows.append(f"{c:<28} {summary[c]['similarity']:>10.4f} {summary[c]['turn_count']:>10.2f}")
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    from . import _ts

    if not _ts.available():
        print(f"cm2 eval toolsandbox: {_ts.INSTALL_HINT}; then run it with that venv's `cm2`", file=sys.stderr)
        return 2
    if not args.out:
        print("cm2 eval toolsandbox: --out FILE.jsonl is required", file=sys.stderr)
        return 2
    import cm2_env
    from cm2_env.tasks import select_tasks

    from .loader import default_local_only, rapid_api_scenarios

    augs: Any = True if args.augmentations.strip() == "all" else [a.strip() for a in args.augmentations.split(",") if a.strip()]
    local_only = default_local_only() if args.local_only is None else bool(args.local_only)
    if local_only:
        left_out = rapid_api_scenarios(augs)
        print(f"local only: {len(left_out)} scenario(s) use RapidAPI tools and are left out "
              f"({'--local-only' if args.local_only else 'no RAPID_API_KEY'}; --all-scenarios includes them): "
              + ", ".join(left_out[:8]) + (" ..." if len(left_out) > 8 else ""), file=sys.stderr)
    env_kwargs = {"augmentations": augs, "local_only": local_only, **parse_kv(args.env_arg)}
    if args.limit is not None:
        env_kwargs["limit"] = args.limit
    env = cm2_env.make(ENV_ID, **env_kwargs)
    tasks = select_tasks(env.tasks, args.tasks) if args.tasks else env.tasks
    task_ids = [t.id for t in tasks]
    if args.tasks:
        env_kwargs["task_ids"] = task_ids
    agent_kwargs = agent_kwargs_of(args)
    identity = {"eval": "toolsandbox", "env_kwargs": env_kwargs, "agent": args.agent, "agent_kwargs": agent_kwargs,
                "seed": args.seed}
    try:
        with lock_output(args.out):
            job = RunJob(env_id=ENV_ID, out=Path(args.out), agent=args.agent, env_kwargs=env_kwargs,
                         agent_kwargs=agent_kwargs, task_ids=task_ids, concurrency=args.concurrency, seed=args.seed,
                         quiet=args.quiet, label=f"toolsandbox · {args.agent}", identity=identity)
            result = job.run()
    except OutputLockedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
        return 2
    per = per_scenario_of(result.records, {t.id: t.metadata["toolsandbox"]["max_messages"] for t in tasks},
                          {t.id: t.metadata.get("categories", []) for t in tasks})
    summary = category_summary(per)
    out = Path(args.out)
    summary_path = out.with_name(out.stem + ".result_summary.json")
    summary_path.write_text(json.dumps({"per_scenario_results": per, "category_aggregated_results": summary,
                                        "git_sha": "apple/ToolSandbox@165848b (via cm2_env)"}, indent=4,
                                       ensure_ascii=False), encoding="utf-8")
    print(format_table(summary))
    scores = [r.score or 0.0 for r in result.records]
    if scores:
        print(f"mean checklist score {sum(scores) / len(scores):.4f} over {len(scores)} episode(s)")
    print(f"{len(result.records)} episode(s) recorded in {out}; summary in {summary_path}")
    failed = sum(1 for r in result.records if r.end_reason in FAILED_END_REASONS)
    if result.records and failed == len(result.records):
        print(f"error: every episode failed to run ({failed})", file=sys.stderr)
        return 1
    return 0
