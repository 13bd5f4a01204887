"""The ``cm2`` command: list envs and suites, validate task files, run episodes, data and eval tools."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

# Subcommands owned by other modules: name → "module" exposing add_parser(subparsers) and run(args).
PLUGIN_COMMANDS: dict[str, str] = {}
# Nested groups: group → {name: module}; e.g. `cm2 data to-verl`, `cm2 eval bfcl`.
PLUGIN_GROUPS: dict[str, dict[str, str]] = {
    "data": {"to-verl": "cm2_env.data.to_verl"},
    "eval": {"bfcl": "cm2_env.benchmarks.bfcl.cli"},
}


def parse_kv(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs (values parsed as JSON when they are JSON) → env kwargs."""
    out: dict[str, Any] = {}
    for p in pairs:
        if "=" not in p:
            raise SystemExit(f"--env-arg expects key=value, got {p!r}")
        k, v = p.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


# ------------------------------------------------------------------------------------------- list


def cmd_list(args: argparse.Namespace) -> int:
    import cm2_env
    from cm2_env.registry import env_specs
    from cm2_env.tasks import list_suites, load_suite

    print(f"{'env id':<36} {'tasks':>6}  description")
    for env_id, spec in env_specs().items():
        note = ""
        try:
            n: Any = len(cm2_env.make(env_id).tasks)
        except Exception as e:  # an env whose data is not installed here still gets listed
            n, note = "n/a", f" [unavailable here: {type(e).__name__}]"
        print(f"{env_id:<36} {n!s:>6}  {spec.get('description', '')}{note}")
    print()
    print(f"{'suite':<20} {'tasks':>6}  domains")
    for name in list_suites():
        tasks = load_suite(name)
        domains = sorted({t.domain for t in tasks})
        print(f"{name:<20} {len(tasks):>6}  {', '.join(domains)}")
    return 0


# --------------------------------------------------------------------------------------- validate


def cmd_validate(args: argparse.Namespace) -> int:
    from cm2_env.tasks import validate_file

    total = 0
    for f in args.files:
        errors = validate_file(f)
        total += len(errors)
        for e in errors:
            print(str(e))
        if not errors:
            print(f"{f}: OK")
    if total:
        print(f"{total} error(s)", file=sys.stderr)
    return 1 if total else 0


# -------------------------------------------------------------------------------------------- run


def _summary(records: list[dict[str, Any]]) -> str:
    by_domain: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_domain[r.get("domain") or "?"].append(r)
    lines = [f"{'domain':<16} {'episodes':>8} {'mean score':>10} {'passed':>7} {'failed':>7} {'unjudged':>8} {'errors':>7}"]

    def row(name: str, rs: list[dict[str, Any]]) -> str:
        scores = [r["score"] for r in rs if r.get("score") is not None]
        c = defaultdict(int)
        for r in rs:
            for k, v in (r.get("counts") or {}).items():
                c[k] += v
        mean = f"{sum(scores) / len(scores):.3f}" if scores else "n/a"
        return f"{name:<16} {len(rs):>8} {mean:>10} {c['passed']:>7} {c['failed']:>7} {c['unjudged']:>8} {c['error']:>7}"

    for d in sorted(by_domain):
        lines.append(row(d, by_domain[d]))
    lines.append(row("ALL", records))
    return "\n".join(lines)


def _run_fingerprint(args: argparse.Namespace, env_kwargs: dict[str, Any], agent_kwargs: dict[str, Any]) -> str:
    """What makes two `cm2 run` invocations the same experiment (resumable into one file)."""
    import hashlib

    ident = {"env": args.env, "env_kwargs": env_kwargs, "agent": args.agent, "agent_kwargs": agent_kwargs,
             "seed": args.seed, "group_size": args.group_size}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def cmd_run(args: argparse.Namespace) -> int:
    import cm2_env
    import cm2_env.registry
    from agents import AGENTS
    from cm2_env.rollout import plan_episodes, run_rollouts

    env_kwargs = parse_kv(args.env_arg)
    if args.tasks_file:
        env_kwargs["tasks"] = args.tasks_file
    if args.tasks:
        env_kwargs["task_selector"] = args.tasks
    agent_kwargs = parse_kv(args.agent_arg)
    if args.agent == "perturbed":
        agent_kwargs.setdefault("seed", args.seed)

    shared = cm2_env.registry.with_shared_backends(args.env, **env_kwargs)

    def make_env() -> Any:
        return cm2_env.make(args.env, **shared)

    probe = make_env()
    specs = plan_episodes(probe.tasks, args.episodes, args.group_size, args.seed)
    factory = AGENTS.get(args.agent)

    def make_agent() -> Any:
        return factory(**agent_kwargs)

    out = Path(args.out)
    from tqdm import tqdm

    bar = tqdm(total=len(specs), desc=f"{args.agent}", unit="ep", disable=args.quiet)
    from cm2_env.rollout import RunMismatchError, read_done_keys

    run_id = _run_fingerprint(args, env_kwargs, agent_kwargs)
    try:
        already = len(read_done_keys(out, run_id) & {s.key for s in specs})
    except RunMismatchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    bar.update(already)
    import time

    t0 = time.perf_counter()
    tokens = 0

    def on_record(rec: dict[str, Any]) -> None:
        nonlocal tokens
        total = (rec.get("usage") or {}).get("total") or {}
        tokens += int(total.get("prompt_tokens", 0)) + int(total.get("completion_tokens", 0))
        dt = max(time.perf_counter() - t0, 1e-9)
        bar.update(1)
        bar.set_postfix(score=rec.get("score"), ep_s=f"{(bar.n - already) / dt:.2f}", tok_s=f"{tokens / dt:.0f}")

    try:
        asyncio.run(run_rollouts(make_env, make_agent, specs, out, args.concurrency, on_record, run_id=run_id))
    except RunMismatchError as e:
        bar.close()
        print(f"error: {e}", file=sys.stderr)
        return 2
    bar.close()
    keys = {s.key for s in specs}
    records = [r for r in _read_records(out) if r.get("episode_key") in keys]
    print(_summary(records))
    missing = len(keys) - len({r["episode_key"] for r in records})
    print(f"{len(records)} episode(s) recorded in {out}" + (f"; {missing} missing" if missing else ""))
    return 0 if not missing else 1


# ------------------------------------------------------------------------------------------- main


def _load_plugin(module: str) -> Any | None:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cm2", description="cm2-env: multi-turn tool-use envs with checklist rewards")
    p.add_argument("-v", "--verbose", action="store_true", help="log warnings (e.g. unjudged items) per episode")
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("list", help="env ids, bundled suites, task counts")
    sp.set_defaults(func=cmd_list)

    sp = sub.add_parser("validate", help="validate task files; exit 1 on any error")
    sp.add_argument("files", nargs="+")
    sp.set_defaults(func=cmd_validate)

    sp = sub.add_parser("run", help="run episodes of an agent and record them as JSONL")
    sp.add_argument("--env", default="cm2/ToolTask-v0", help="registered env id")
    sp.add_argument("--agent", default="reference", help="agent name (reference, perturbed, openai)")
    sp.add_argument("--tasks", default=None, help="task selector: id globs or domain:NAME, comma-separated")
    sp.add_argument("--tasks-file", default=None, help="task file or suite name (overrides the env's tasks)")
    sp.add_argument("--episodes", type=int, default=None, help="episode slots (default: one per selected task)")
    sp.add_argument("--group-size", type=int, default=1, help="rollouts per slot sharing a group key (GRPO)")
    sp.add_argument("--concurrency", type=int, default=8, help="episodes in flight at once")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--out", required=True, help="output JSONL (appended; reruns resume)")
    sp.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE", help="env kwarg override")
    sp.add_argument("--agent-arg", action="append", default=[], metavar="KEY=VALUE", help="agent kwarg")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sp.set_defaults(func=cmd_run)

    for name, module in PLUGIN_COMMANDS.items():
        mod = _load_plugin(module)
        if mod is not None:
            sp = sub.add_parser(name)
            mod.add_parser(sp)
            sp.set_defaults(func=mod.run)
    for group, members in PLUGIN_GROUPS.items():
        gp = sub.add_parser(group, help=f"{group} tools: {', '.join(members)}")
        gsub = gp.add_subparsers(dest=f"{group}_command", required=True)
        for name, module in members.items():
            mod = _load_plugin(module)
            if mod is None:
                continue
            sp = gsub.add_parser(name, help=(mod.__doc__ or "").strip().splitlines()[0] if mod.__doc__ else None)
            mod.add_parser(sp)
            sp.set_defaults(func=mod.run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.ERROR, format="%(levelname)s %(message)s")
    func: Callable[[argparse.Namespace], int] = args.func
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
