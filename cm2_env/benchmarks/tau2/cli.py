"""Run an agent on a tau2-bench domain: tau2's official reward, pass^k, DB-match rate, checklist score, agreement.

    cm2 eval tau2 --domain retail --agent reference --num-trials 1 --out runs/tau2_retail_ref.jsonl
    cm2 eval tau2 --domain mock --agent perturbed --agent-arg fault_rate=0.3 --num-trials 4 --out runs/tau2_mock.jsonl

One JSON line per episode (the ``cm2 run`` record; tau2's verdict under ``evaluations.tau2``); reruns resume.
pass^k = mean over tasks of C(successes, k) / C(trials, k) (tau2's definition), over tasks with an official
reward (tasks needing an LLM judge for NL assertions are listed apart when no judge is configured).
Needs tau2 (scripts/install_tau2_env.sh).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from math import comb
from pathlib import Path
from typing import Any

from ...config import parse_kv
from ...rollout import EpisodeRecord
from ...runjob import FAILED_END_REASONS, RunJob, add_agent_arguments, agent_kwargs_of


def env_id_of(domain: str) -> str:
    return "cm2/Tau2-" + "".join(p.capitalize() for p in domain.replace("-", "_").split("_")) + "-v0"


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--domain", default="retail", help="a domain tau2 registers (usable here: retail, mock)")
    p.add_argument("--task-ids", nargs="*", default=None, help="tau2 task ids (default: all)")
    p.add_argument("--limit", type=int, default=None, help="first N tasks")
    p.add_argument("--num-trials", type=int, default=1, help="trials per task (pass^k for k = 1..trials)")
    p.add_argument("--user", choices=["scripted", "llm", "tau2"], default="scripted",
                   help="user side: scripted (offline approximation, performs user-side gold actions), llm (tau2's "
                        "guidelines + scenario on a cm2 LLM client) or tau2 (tau2's own UserSimulator via litellm); "
                        "llm/tau2 need --user-llm")
    p.add_argument("--user-llm", nargs="*", default=[], metavar="KEY=VALUE",
                   help="the user model: base_url=http://host:port/v1 model=NAME [api_key_env=VAR] (or preset=NAME)")
    p.add_argument("--judge-llm", nargs="*", default=[], metavar="KEY=VALUE",
                   help="an LLM judge (base_url=... model=... [api_key_env=...]): tau2's NL-assertion evaluator "
                        "(official reward) and cm2's judge (NL checklist items) use it")
    p.add_argument("--nl-judge", action="store_true",
                   help="let tau2's evaluator call its default judge model through litellm (needs a provider key)")
    p.add_argument("--out", default=None, help="output JSONL (appended; reruns resume)")
    add_agent_arguments(p)


def pass_hat_k(successes: dict[str, list[bool]], k: int) -> float | None:
    vals = [comb(sum(v), k) / comb(len(v), k) for v in successes.values() if len(v) >= k]
    return sum(vals) / len(vals) if vals else None


def summarize(records: list[EpisodeRecord], trials: int) -> dict[str, Any]:
    official = [r.evaluations.get("tau2") or {} for r in records]
    scored = [(r, o) for r, o in zip(records, official) if o.get("reward") is not None]
    per_task: dict[str, list[bool]] = defaultdict(list)
    for r, o in scored:
        per_task[r.task_id].append(o["reward"] >= 1.0 - 1e-9)
    perfect = lambda r: r.score is not None and r.score >= 1.0 - 1e-9  # noqa: E731
    n = len(records)
    db = [o.get("db_match") for o in official if o.get("db_match") is not None]
    out = {
        "episodes": n,
        "scored": len(scored),
        "needs_llm": sorted({r.task_id for r, o in zip(records, official) if o.get("needs_llm") and o.get("reward") is None}),
        "avg_reward": sum(o["reward"] for _, o in scored) / len(scored) if scored else None,
        "avg_reward_without_nl": (sum(o.get("reward_without_nl", o.get("reward")) or 0.0 for o in official) / n) if n else None,
        "pass_hat": {k: pass_hat_k(per_task, k) for k in range(1, trials + 1)},
        "db_match_rate": sum(db) / len(db) if db else None,
        "checklist": sum(r.score or 0.0 for r in records) / n if n else None,
        "agreement": (sum((o["reward"] >= 1 - 1e-9) == perfect(r) for r, o in scored) / len(scored)) if scored else None,
        "agreement_without_nl": (sum(((o.get("reward_without_nl", o.get("reward")) or 0) >= 1 - 1e-9) == perfect(r)
                                     for r, o in zip(records, official)) / n) if n else None,
        "evaluator_errors": sum(1 for o in official if "error" in o),
        "judge_errors": sum(1 for o in official if "judge_error" in o),
        "gold_infeasible": {r.task_id: o["gold_infeasible"] for r, o in zip(records, official) if o.get("gold_infeasible")},
        "user_errors": sum(1 for o in official if o.get("termination_reason") == "user_error"),
    }
    feasible = [o["reward"] for _, o in scored if not o.get("gold_infeasible")]
    out["avg_reward_gold_feasible"] = sum(feasible) / len(feasible) if feasible else None
    out["gold_feasible_scored"] = len(feasible)
    return out


def _f(x: Any) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def run(args: argparse.Namespace) -> int:
    from . import _tau2

    if not _tau2.available():
        print(f"cm2 eval tau2: {_tau2.INSTALL_HINT}", file=sys.stderr)
        return 2
    why = _tau2.domain_status(args.domain)
    if why is not None:
        print(f"cm2 eval tau2: domain {args.domain!r} cannot run here: {why}; usable: "
              f"{', '.join(_tau2.usable_domains())}", file=sys.stderr)
        return 2
    if not args.out:
        print("cm2 eval tau2: --out FILE.jsonl is required", file=sys.stderr)
        return 2
    env_kwargs = parse_kv(args.env_arg)
    env_kwargs.setdefault("domain", args.domain)
    user_llm = parse_kv(args.user_llm, "--user-llm")
    if args.user in ("llm", "tau2"):
        if not user_llm:
            print(f"cm2 eval tau2: --user {args.user} needs --user-llm base_url=... model=...", file=sys.stderr)
            return 2
        # registered names (the run job builds role specs through the core registries)
        env_kwargs.setdefault("user", {"name": {"llm": "tau2_llm", "tau2": "tau2"}[args.user], "llm": user_llm})
    judge_llm = parse_kv(args.judge_llm, "--judge-llm")
    if judge_llm:
        env_kwargs["nl_judge"] = judge_llm
        env_kwargs.setdefault("judge", {"name": "llm", "llm": judge_llm})
    elif args.nl_judge:
        env_kwargs["nl_judge"] = True
    if args.limit is not None:
        env_kwargs["limit"] = args.limit
    task_ids = None
    if args.task_ids:
        task_ids = [t if "/" in t else f"{args.domain}/{t}" for t in args.task_ids]
        env_kwargs["task_ids"] = task_ids
    agent_kwargs = agent_kwargs_of(args)
    job = RunJob(env_id=env_id_of(args.domain), out=Path(args.out), agent=args.agent, env_kwargs=env_kwargs,
                 agent_kwargs=agent_kwargs, task_ids=task_ids, group_size=max(1, args.num_trials),
                 concurrency=args.concurrency, seed=args.seed, quiet=args.quiet,
                 label=f"tau2 {args.domain} · {args.agent}")
    result = job.run()
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
        return 2
    s = summarize(result.records, max(1, args.num_trials))
    print(f"domain {args.domain}: {s['episodes']} episode(s), {s['scored']} with an official reward")
    print(f"avg reward {_f(s['avg_reward'])}  " + "  ".join(f"pass^{k} {_f(v)}" for k, v in s["pass_hat"].items()))
    print(f"DB match {_f(s['db_match_rate'])}  checklist {_f(s['checklist'])}  agreement {_f(s['agreement'])}  "
          f"(without NL: reward {_f(s['avg_reward_without_nl'])}, agreement {_f(s['agreement_without_nl'])})")
    if s["needs_llm"]:
        print(f"{len(s['needs_llm'])} task(s) need an LLM judge for NL assertions (needs judge, not scored; --judge-llm): "
              + ", ".join(s["needs_llm"][:10]) + (" ..." if len(s["needs_llm"]) > 10 else ""))
    for tid, why in sorted(s["gold_infeasible"].items()):
        print(f"gold-infeasible (no replay of the gold can score 1; scored as tau2 scores it): {tid}: {why}")
    if s["gold_infeasible"]:
        print(f"avg reward over the {s['gold_feasible_scored']} scored gold-feasible episode(s): "
              f"{_f(s['avg_reward_gold_feasible'])}")
    if s["judge_errors"] or s["user_errors"]:
        print(f"{s['judge_errors']} judge error(s), {s['user_errors']} episode(s) ended by a user-side error",
              file=sys.stderr)
    if s["evaluator_errors"]:
        print(f"{s['evaluator_errors']} evaluator error(s); see evaluations.tau2.error", file=sys.stderr)
    print(f"{len(result.records)} episode(s) recorded in {args.out}")
    failed = sum(1 for r in result.records if r.end_reason in FAILED_END_REASONS)
    return 1 if result.records and failed == len(result.records) else 0
