"""The run job behind ``cm2 run`` and every ``cm2 eval <benchmark>``: env + agent, fingerprint, resume,
progress bar, JSONL, summary table.

A benchmark's CLI builds one :class:`RunJob` per env (e.g. per BFCL category) with its own ``identity`` and
prints its own table from the returned records; everything else is here, once.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .config import parse_kv
from .rollout import (EpisodeRecord, EpisodeSpec, OutputLockedError, RunMismatchError, lock_output, plan_episodes,
                      read_done_keys, read_records, run_rollouts)


@dataclass
class RunResult:
    """What a finished (or refused) job reports."""

    records: list[EpisodeRecord]
    """The records of this job's episodes found in the output file (resumed ones included), one per key."""
    missing: int = 0
    """Planned episodes with no record (non-zero only if the run was cut short)."""
    error: str | None = None
    """Why the job did not run (e.g. the output file belongs to another run)."""

    @property
    def failed(self) -> list[EpisodeRecord]:
        """Records of episodes that did not run to a verdict: the env or the agent raised."""
        return [r for r in self.records if r.end_reason in FAILED_END_REASONS]

    @property
    def all_failed(self) -> bool:
        """Every recorded episode is an ``env_error``/``agent_error``: nothing was evaluated."""
        return bool(self.records) and len(self.failed) == len(self.records)

    @property
    def ok(self) -> bool:
        return self.error is None and self.missing == 0 and not self.all_failed


FAILED_END_REASONS = ("env_error", "agent_error")


@dataclass
class RunJob:
    """Episodes of one agent in one env, written to a JSONL file (resumable)."""

    env_id: str
    out: Path
    agent: str = "reference"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    agent_kwargs: dict[str, Any] = field(default_factory=dict)
    task_ids: Sequence[str] | None = None
    """Run only these tasks of the env (default: all of them)."""
    episodes: int | None = None
    """Episode slots (default: one per task); each slot runs ``group_size`` rollouts sharing a group key."""
    group_size: int = 1
    concurrency: int = 8
    seed: int = 0
    quiet: bool = False
    label: str | None = None
    """Progress-bar label (default: the agent name)."""
    identity: dict[str, Any] | None = None
    """What makes two invocations the same experiment (default: env, env kwargs, agent, agent kwargs, seed,
    group size); several jobs writing one file (a benchmark's categories) share one identity."""

    def fingerprint(self) -> str:
        ident = self.identity if self.identity is not None else {
            "env": self.env_id, "env_kwargs": self.env_kwargs, "agent": self.agent,
            "agent_kwargs": self.agent_kwargs, "seed": self.seed, "group_size": self.group_size,
        }
        return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def run(self) -> RunResult:
        """Build the env and one agent (a build error is ``RunResult.error``, nothing written), then lock the
        output, resume and run the missing episodes; a second writer of the same file is refused."""
        import cm2_env
        from agents import AGENTS
        from cm2_env.envs import with_shared_backends

        try:
            shared = with_shared_backends(self.env_id, **self.env_kwargs)
            first_env = cm2_env.make(self.env_id, **shared)
        except Exception as e:
            return RunResult([], 0, f"cannot build env {self.env_id}: {_one_line(e)}")
        spare = [first_env]

        def make_env() -> Any:
            return spare.pop() if spare else cm2_env.make(self.env_id, **shared)

        tasks = first_env.tasks
        if self.task_ids is not None:
            wanted = set(self.task_ids)
            tasks = [t for t in tasks if t.id in wanted]
        specs = plan_episodes(tasks, self.episodes, self.group_size, self.seed)
        try:  # a mistyped --agent-arg must fail here, not as one agent_error record per episode
            factory = AGENTS.get(self.agent)
            factory(**self.agent_kwargs)
        except Exception as e:
            return RunResult([], len(specs), f"cannot build agent {self.agent!r} with {self.agent_kwargs}: "
                                             f"{_one_line(e)}")
        run_id = self.fingerprint()
        try:
            with lock_output(self.out):  # held across the resume scan, the run and the read-back
                return self._run_locked(specs, make_env, factory, run_id)
        except (RunMismatchError, OutputLockedError) as e:
            return RunResult([], len(specs), str(e))

    def _run_locked(self, specs: list[EpisodeSpec], make_env: Any, factory: Any, run_id: str) -> RunResult:
        already = len(read_done_keys(self.out, run_id) & {s.key for s in specs})
        progress = _Progress(len(specs), already, self.label or self.agent, self.quiet)
        try:
            asyncio.run(run_rollouts(make_env, lambda: factory(**self.agent_kwargs), specs, self.out,
                                     self.concurrency, progress.update, run_id=run_id))
        finally:
            progress.close()
        return collect(self.out, specs)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def collect(out: Path, specs: list[EpisodeSpec]) -> RunResult:
    """The file's records of ``specs`` (the last one per key) and how many are missing."""
    keys = {s.key for s in specs}
    records = [r for r in read_records(out) if r.episode_key in keys]  # read_records keeps the last per key
    return RunResult(records, len(keys) - len(records))


class _Progress:
    """tqdm bar with episodes/s and tokens/s of this invocation."""

    def __init__(self, total: int, already: int, label: str, quiet: bool):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=label, unit="ep", disable=quiet)
        self.bar.update(already)
        self.already = already
        self.t0 = time.perf_counter()
        self.tokens = 0

    def update(self, rec: EpisodeRecord) -> None:
        total = (rec.usage or {}).get("total") or {}
        self.tokens += int(total.get("prompt_tokens", 0)) + int(total.get("completion_tokens", 0))
        dt = max(time.perf_counter() - self.t0, 1e-9)
        self.bar.update(1)
        self.bar.set_postfix(score=rec.score, ep_s=f"{(self.bar.n - self.already) / dt:.2f}",
                             tok_s=f"{self.tokens / dt:.0f}")

    def close(self) -> None:
        self.bar.close()


def summary_table(records: list[EpisodeRecord]) -> str:
    """Per-domain episodes, mean score and verdict counts, with an ALL row."""
    records = list({r.episode_key: r for r in records}.values())  # one per episode (the last) even if handed dups
    by_domain: dict[str, list[EpisodeRecord]] = defaultdict(list)
    for r in records:
        by_domain[r.domain or "?"].append(r)
    lines = [f"{'domain':<16} {'episodes':>8} {'mean score':>10} {'passed':>7} {'failed':>7} {'unjudged':>8} {'errors':>7}"]

    def row(name: str, rs: list[EpisodeRecord]) -> str:
        scores = [r.score for r in rs if r.score is not None]
        c: dict[str, int] = defaultdict(int)
        for r in rs:
            for k, v in r.counts.items():
                c[k] += v
        mean = f"{sum(scores) / len(scores):.3f}" if scores else "n/a"
        return f"{name:<16} {len(rs):>8} {mean:>10} {c['passed']:>7} {c['failed']:>7} {c['unjudged']:>8} {c['error']:>7}"

    for d in sorted(by_domain):
        lines.append(row(d, by_domain[d]))
    lines.append(row("ALL", records))
    return "\n".join(lines)


def add_agent_arguments(p: argparse.ArgumentParser) -> None:
    """The options every run command shares: agent, env/agent kwargs, concurrency, seed, output, quiet."""
    from agents import AGENTS  # lazy registry: listing names imports no agent

    p.add_argument("--agent", default="reference", help=f"agent name ({', '.join(AGENTS.names())})")
    p.add_argument("--agent-arg", action="append", default=[], metavar="KEY=VALUE", help="agent kwarg (JSON values)")
    p.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE", help="env kwarg override (JSON values)")
    p.add_argument("--concurrency", type=int, default=8, help="episodes in flight at once")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def agent_kwargs_of(args: argparse.Namespace) -> dict[str, Any]:
    """``--agent-arg`` pairs; the seeded-fault agent takes the run's seed unless given its own."""
    kwargs = parse_kv(args.agent_arg, "--agent-arg")
    if args.agent == "perturbed":
        kwargs.setdefault("seed", args.seed)
    return kwargs
