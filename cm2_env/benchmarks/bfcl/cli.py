"""Run an agent on BFCL v4 multi-turn categories: official accuracy and mean checklist score per category.

    cm2 eval bfcl --category base --agent reference --out runs/bfcl_ref.jsonl
    cm2 eval bfcl --category all --agent perturbed --limit 20 --out runs/bfcl_pert.jsonl
    cm2 eval bfcl --category base --export-tasks runs/bfcl_base_tasks.json

Writes one JSON line per episode (the ``cm2 run`` record: transcript, verdicts, turn scores, ``score``, and the
official verdict under ``evaluations.bfcl``); reruns resume. Needs bfcl-eval (scripts/install_bfcl_env.sh).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ...config import parse_kv
from ...rollout import EpisodeRecord, OutputLockedError, lock_output
from ...runjob import FAILED_END_REASONS, RunJob, add_agent_arguments, agent_kwargs_of
from ._bfcl import CATEGORIES

ENV_IDS = {
    "base": "cm2/BFCL-MultiTurn-Base-v0",
    "miss_func": "cm2/BFCL-MultiTurn-MissFunc-v0",
    "miss_param": "cm2/BFCL-MultiTurn-MissParam-v0",
    "long_context": "cm2/BFCL-MultiTurn-LongContext-v0",
}


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--category", default="base",
                   help=f"comma-separated categories or 'all' ({', '.join(CATEGORIES)})")
    p.add_argument("--limit", type=int, default=None, help="first N tasks of each category")
    p.add_argument("--tasks", default=None, help="task selector (id globs, comma-separated)")
    p.add_argument("--out", default=None, help="output JSONL (appended; reruns resume)")
    p.add_argument("--export-tasks", default=None, metavar="FILE.json",
                   help="instead of running: write the selected tasks as a cm2 task file (fully judged in any env "
                        "with the bfcl tool backend: cm2 run --tasks-file FILE --env-arg tool_backend=bfcl)")
    add_agent_arguments(p)


def categories_of(spec: str) -> list[str]:
    cats = list(CATEGORIES) if spec.strip() == "all" else [c.strip().removeprefix("multi_turn_") for c in spec.split(",") if c.strip()]
    unknown = [c for c in cats if c not in CATEGORIES]
    if unknown:
        raise SystemExit(f"unknown BFCL category {unknown}; choose from {', '.join(CATEGORIES)} or 'all'")
    return cats


def _mean(xs: list[float | None]) -> float | None:
    return sum(x or 0.0 for x in xs) / len(xs) if xs else None


def summarize(records: list[EpisodeRecord]) -> dict[str, Any]:
    """Official accuracy, mean checklist score and per-task agreement of a set of episode records.

    Agreement: the official verdict (valid) and the checklist (score == 1.0) say the same thing.
    """
    n = len(records)
    official = [r.evaluations.get("bfcl") or {} for r in records]
    valid = [bool(o.get("valid")) for o in official]
    scores = [r.score for r in records]
    perfect = [s is not None and s >= 1.0 - 1e-9 for s in scores]
    checker_errors = sum(1 for o in official if o.get("checker_error") or not o or "error" in o and "valid" not in o)
    return {
        "episodes": n,
        "official_accuracy": sum(valid) / n if n else None,
        "mean_checklist_score": sum(s or 0.0 for s in scores) / n if n else None,
        "checklist_perfect": sum(perfect) / n if n else None,
        "agreement": sum(v == p for v, p in zip(valid, perfect)) / n if n else None,
        "official_pass_checklist_imperfect": sum(v and not p for v, p in zip(valid, perfect)),
        "official_fail_checklist_perfect": sum(p and not v for v, p in zip(valid, perfect)),
        "checker_errors": checker_errors,
        "mean_checklist_when_official_pass": _mean([s for s, v in zip(scores, valid) if v]),
        "mean_checklist_when_official_fail": _mean([s for s, v in zip(scores, valid) if not v]),
        "unscored": sum(s is None for s in scores),
    }


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def format_table(rows: dict[str, dict[str, Any]]) -> str:
    head = f"{'category':<14} {'eps':>5} {'official acc':>12} {'checklist':>10} {'perfect':>8} {'agree':>7} {'off+/ck-':>9} {'off-/ck+':>9} {'chk err':>8}"
    lines = [head, "-" * len(head)]

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f}%"

    for name, s in rows.items():
        lines.append(
            f"{name:<14} {s['episodes']:>5} {pct(s['official_accuracy']):>12} "
            f"{'n/a' if s['mean_checklist_score'] is None else format(s['mean_checklist_score'], '.4f'):>10} "
            f"{pct(s['checklist_perfect']):>8} {pct(s['agreement']):>7} {s['official_pass_checklist_imperfect']:>9} "
            f"{s['official_fail_checklist_perfect']:>9} {s['checker_errors']:>8}"
        )
    return "\n".join(lines)


def export_tasks(cats: list[str], args: argparse.Namespace) -> int:
    from cm2_env.tasks import select_tasks
    from cm2_env.tasks.loader import validate_document

    from .env import bfcl_tasks

    tasks = []
    for cat in cats:
        got = bfcl_tasks(cat, limit=args.limit)
        tasks.extend(select_tasks(got, args.tasks) if args.tasks else got)
    doc = {"version": 1, "name": "bfcl_multi_turn_" + "+".join(cats),
           "tasks": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tasks]}
    errors = validate_document(doc, args.export_tasks)
    if errors:
        for e in errors[:20]:
            print(e, file=sys.stderr)
        return 1
    path = Path(args.export_tasks)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {len(tasks)} task(s) to {path} (every item has a programmatic check; run them with any env "
          "whose tool backend is `bfcl`)")
    return 0


def _run_categories(cats: list[str], args: argparse.Namespace, env_kwargs: dict[str, Any],
                    agent_kwargs: dict[str, Any], identity: dict[str, Any]):
    """One RunJob per category into the same file; (rows, records, error)."""
    import cm2_env
    from cm2_env.tasks import select_tasks

    rows: dict[str, dict[str, Any]] = {}
    all_records: list[EpisodeRecord] = []
    for cat in cats:
        kwargs = dict(env_kwargs)
        if args.limit is not None:
            kwargs["limit"] = args.limit
        task_ids = None
        if args.tasks:
            task_ids = [t.id for t in select_tasks(cm2_env.make(ENV_IDS[cat], **kwargs).tasks, args.tasks)]
            kwargs["task_ids"] = task_ids
        job = RunJob(env_id=ENV_IDS[cat], out=Path(args.out), agent=args.agent, env_kwargs=kwargs,
                     agent_kwargs=agent_kwargs, task_ids=task_ids, concurrency=args.concurrency, seed=args.seed,
                     quiet=args.quiet, label=f"bfcl {cat} · {args.agent}", identity=identity)
        result = job.run()
        if result.error:
            return rows, all_records, result.error
        rows[cat] = summarize(result.records)
        all_records.extend(result.records)
    return rows, all_records, None


def run(args: argparse.Namespace) -> int:
    from . import _bfcl

    if not _bfcl.available():
        print(f"cm2 eval bfcl: {_bfcl.INSTALL_HINT}; then run it with that venv's `cm2`", file=sys.stderr)
        return 2
    cats = categories_of(args.category)
    if args.export_tasks:
        return export_tasks(cats, args)
    if not args.out:
        print("cm2 eval bfcl: --out FILE.jsonl is required (or --export-tasks FILE.json)", file=sys.stderr)
        return 2
    agent_kwargs = agent_kwargs_of(args)
    env_kwargs = parse_kv(args.env_arg)
    # one experiment across categories: they share the file, so the fingerprint leaves the category out
    identity = {"eval": "bfcl", "env_kwargs": env_kwargs, "agent": args.agent, "agent_kwargs": agent_kwargs,
                "seed": args.seed}
    try:
        with lock_output(args.out):  # one lock across the categories: no other run slips in between them
            rows, all_records, error = _run_categories(cats, args, env_kwargs, agent_kwargs, identity)
    except OutputLockedError as e:
        error = str(e)
    if error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if len(rows) > 1:
        rows["overall"] = summarize(all_records)
    print(format_table(rows))
    for name, row in rows.items():
        if row["episodes"]:
            print(f"{name}: mean checklist score when the official verdict passes "
                  f"{_fmt(row['mean_checklist_when_official_pass'])}, when it fails "
                  f"{_fmt(row['mean_checklist_when_official_fail'])}")
    print(f"{len(all_records)} episode(s) recorded in {args.out}")
    failed = sum(1 for r in all_records if r.end_reason in FAILED_END_REASONS)
    if all_records and failed == len(all_records):
        print(f"error: every episode failed to run ({failed} env/agent errors); see the records' agent_error",
              file=sys.stderr)
        return 1
    print("official acc: bfcl-eval multi_turn_checker verdict; checklist: mean cm2 checklist score; perfect: share "
          "with checklist 1.0; agree: official valid == checklist perfect; off+/ck-, off-/ck+: disagreements.")
    return 0
