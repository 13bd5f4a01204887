"""The ``cm2`` command: list envs and suites, validate task files, run episodes, data and eval tools."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import pkgutil
import sys
from pathlib import Path
from typing import Any, Callable

# Subcommands owned by other modules: name → "module" exposing add_parser(subparsers) and run(args).
PLUGIN_COMMANDS: dict[str, str] = {"view": "cm2_env.viewer.cli", "sweep": "cm2_env.sweep"}
# Nested groups: group → {name: module}; e.g. `cm2 data to-verl`. `cm2 eval NAME` is every benchmark folder
# with a cli.py (see benchmark_commands).
PLUGIN_GROUPS: dict[str, dict[str, str]] = {
    "data": {"to-verl": "cm2_env.data.to_verl", "run": "cm2_env.data.pipeline", "to-sft": "train.sft.export"},
}


def benchmark_commands() -> dict[str, str]:
    """``cm2 eval NAME`` → ``cm2_env.benchmarks.NAME.cli`` for every benchmark folder that has one."""
    from cm2_env import benchmarks

    out = {}
    for m in pkgutil.iter_modules(benchmarks.__path__):
        module = f"{benchmarks.__name__}.{m.name}.cli"
        if m.ispkg and importlib.util.find_spec(module) is not None:
            out[m.name] = module
    return out


# ------------------------------------------------------------------------------------------- list


def cmd_list(args: argparse.Namespace) -> int:
    import cm2_env
    from cm2_env.envs import env_specs
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


def cmd_run(args: argparse.Namespace) -> int:
    from cm2_env.config import parse_kv
    from cm2_env.runjob import RunJob, agent_kwargs_of, summary_table

    env_kwargs = parse_kv(args.env_arg)
    if args.tasks_file:
        env_kwargs["tasks"] = args.tasks_file
    if args.tasks:
        env_kwargs["task_selector"] = args.tasks
    job = RunJob(env_id=args.env, out=Path(args.out), agent=args.agent, env_kwargs=env_kwargs,
                 agent_kwargs=agent_kwargs_of(args), episodes=args.episodes, group_size=args.group_size,
                 concurrency=args.concurrency, seed=args.seed, quiet=args.quiet)
    result = job.run()
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
        return 2
    print(summary_table(result.records))
    missing = f"; {result.missing} missing" if result.missing else ""
    print(f"{len(result.records)} episode(s) recorded in {job.out}{missing}")
    if result.all_failed:
        first = result.failed[0]
        print(f"error: all {len(result.records)} episode(s) failed to run ({first.end_reason}), nothing was "
              f"evaluated; first error: {first.agent_error}", file=sys.stderr)
    return 0 if result.ok else 1


# ------------------------------------------------------------------------------------------- main


def _first_line(doc: str | None) -> str | None:
    return doc.strip().splitlines()[0] if doc and doc.strip() else None


def _load_plugin(module: str) -> Any | None:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def build_parser() -> argparse.ArgumentParser:
    from cm2_env.runjob import add_agent_arguments

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
    sp.add_argument("--tasks", default=None, help="task selector: id globs or domain:NAME, comma-separated")
    sp.add_argument("--tasks-file", default=None, help="task file or suite name (overrides the env's tasks)")
    sp.add_argument("--episodes", type=int, default=None, help="episode slots (default: one per selected task)")
    sp.add_argument("--group-size", type=int, default=1, help="rollouts per slot sharing a group key (GRPO)")
    sp.add_argument("--out", required=True, help="output JSONL (appended; reruns resume)")
    add_agent_arguments(sp)
    sp.set_defaults(func=cmd_run)

    for name, module in PLUGIN_COMMANDS.items():
        mod = _load_plugin(module)
        if mod is not None:
            sp = sub.add_parser(name, help=_first_line(mod.__doc__))
            mod.add_parser(sp)
            sp.set_defaults(func=mod.run)
    from cm2_env.data.stage import stage_modules

    groups = {**PLUGIN_GROUPS, "eval": benchmark_commands()}
    groups["data"] = {**stage_modules(), **groups["data"]}
    for group, members in groups.items():
        gp = sub.add_parser(group, help=f"{group} tools: {', '.join(members)}")
        gsub = gp.add_subparsers(dest=f"{group}_command", required=True)
        for name, module in members.items():
            mod = _load_plugin(module)
            if mod is None:
                continue
            sp = gsub.add_parser(name, help=_first_line(mod.__doc__))
            mod.add_parser(sp)
            sp.set_defaults(func=mod.run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.ERROR, format="%(levelname)s %(message)s")
    logging.getLogger("cm2_env.rollout").setLevel(logging.WARNING)  # output-file repairs are always reported
    func: Callable[[argparse.Namespace], int] = args.func
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
