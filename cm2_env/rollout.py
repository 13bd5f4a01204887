"""Rollout engine: run many episodes of a policy with bounded concurrency, streaming JSONL, resumable.

Each episode has a stable key ``{task_id}#{slot}.{rollout}``; rollouts of one slot form a GRPO group and share
the group key (which the tool simulator's memo uses). Records are appended and flushed one line at a time,
so a killed run loses at most the episodes in flight; rerunning the same command skips the keys already
written and finishes the rest (a torn last line is dropped; unreadable middle lines are moved to
``FILE.corrupt``). One writer per file: ``FILE.lock`` beside it is held (``flock``) while a run writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

try:
    import fcntl
except ImportError:  # not POSIX: no inter-process lock
    fcntl = None  # type: ignore[assignment]

from .llm.usage import UsageMeter, track_usage
from .tasks.models import Task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode to run."""

    key: str
    task_id: str
    group_key: str
    rollout: int
    seed: int
    cost: float = 1.0
    """Expected relative length (the task's turn count); longer episodes start first to shorten the drain."""


def plan_episodes(tasks: list[Task], episodes: int | None, group_size: int, seed: int) -> list[EpisodeSpec]:
    """Slots cycle through the tasks; each slot runs ``group_size`` rollouts sharing a group key."""
    n = len(tasks) if episodes is None else episodes
    out = []
    for slot in range(n):
        task = tasks[slot % len(tasks)]
        group = f"{task.id}#{slot}"
        for r in range(group_size):
            out.append(EpisodeSpec(f"{group}.{r}", task.id, group, r, seed * 1_000_003 + slot * 1009 + r,
                                   cost=float(len(task.turns))))
    return out


class RunMismatchError(ValueError):
    """The output file holds episodes of a different run configuration."""


class OutputLockedError(RuntimeError):
    """Another process is writing the same output file."""


def lock_path_of(path: str | os.PathLike) -> Path:
    """The lock file of an output file: ``FILE.lock`` beside it."""
    p = Path(path)
    return p.with_name(p.name + ".lock")


# lock file (resolved) -> [fd, depth, owning thread]; the lock is re-entrant within one thread of one process
_HELD: dict[str, list[Any]] = {}
_HELD_GUARD = threading.Lock()


@contextlib.contextmanager
def lock_output(path: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` (``fcntl.flock`` on ``FILE.lock``) for the ``with`` block.

    A second process (or thread) asking for the same file gets :class:`OutputLockedError` at once. The OS
    releases the lock when the holder exits or is killed (even ``kill -9``), so a stale lock file is harmless:
    it is left in place (unlinking it would let two processes lock two different inodes).
    """
    lock = lock_path_of(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    key = str(lock.resolve())
    me = threading.get_ident()
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is not None:
            if held[2] != me:
                raise OutputLockedError(f"{path} is being written by another thread of this process")
            held[1] += 1
        else:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = ""
                for _ in range(20):  # the holder may have locked but not yet written its pid
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                    if holder:
                        break
                    time.sleep(0.01)
                os.close(fd)
                who = f" (pid {holder})" if holder.isdigit() else ""
                raise OutputLockedError(
                    f"{path} is being written by another run{who}; wait for it to finish or use another "
                    f"--out file (lock: {lock})") from None
            pid = f"{os.getpid()}\n".encode()
            os.pwrite(fd, pid, 0)  # informational (who holds it); never empty once written
            os.ftruncate(fd, len(pid))
            _HELD[key] = [fd, 1, me]
    try:
        yield lock
    finally:
        with _HELD_GUARD:
            held = _HELD[key]
            held[1] -= 1
            if held[1] == 0:
                del _HELD[key]
                os.close(held[0])  # releases the flock


def corrupt_path_of(path: str | os.PathLike) -> Path:
    """Where unreadable middle lines of an output file are moved: ``FILE.corrupt``."""
    p = Path(path)
    return p.with_name(p.name + ".corrupt")


def _key_of(line: bytes) -> tuple[str, dict[str, Any]] | None:
    """The episode key and record of one JSONL line, or None when the line is not a readable record."""
    try:
        rec = json.loads(line)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("episode_key"), str):
        return None
    return rec["episode_key"], rec


def read_done_keys(path: Path, run_id: str | None = None) -> set[str]:
    """Keys already recorded in ``path``, repairing the file for appending.

    A torn last line (no trailing newline, or unparseable: a killed writer) is cut off. Unreadable lines
    before it are not the tail of a crash: they are appended to ``FILE.corrupt`` (with a warning) and removed
    from the file, and the good records after them are kept. With ``run_id``, records of another run (other
    agent, seed, env arguments) are an error, raised before anything is changed: resuming into them would
    silently mix two experiments.
    """
    path = Path(path)
    if not path.exists():
        return set()
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    keys: set[str] = set()
    kept: list[bytes] = []
    corrupt: list[bytes] = []
    torn = b""
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if last and not line.endswith(b"\n"):
            torn = line
            break
        if not line.strip():
            continue
        got = _key_of(line)
        if got is None:
            if last:
                torn = line
            else:
                corrupt.append(line)
            continue
        key, rec = got
        if run_id is not None and rec.get("run_id") not in (None, run_id):
            raise RunMismatchError(
                f"{path} holds episodes of another run (run_id {rec.get('run_id')}, this run is {run_id}): "
                "use a new --out file, or the same arguments to resume"
            )
        keys.add(key)
        kept.append(line)
    if corrupt:
        aside = corrupt_path_of(path)
        with aside.open("ab") as f:  # first set the bad lines aside, then drop them: nothing is lost
            f.writelines(c if c.endswith(b"\n") else c + b"\n" for c in corrupt)
            f.flush()
            os.fsync(f.fileno())
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as f:
            f.writelines(kept)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        log.warning("%s: moved %d unreadable line(s) to %s; kept the %d readable record(s)",
                    path, len(corrupt), aside, len(kept))
    elif torn:
        with path.open("r+b") as f:
            f.truncate(len(data) - len(torn))
    return keys


@dataclass
class EpisodeRecord:
    """One line of a run's JSONL file: the episode's identity, its outcome and its transcript."""

    episode_key: str
    """``{task_id}#{slot}.{rollout}``: unique within a run; resuming skips keys already written."""
    task_id: str
    group_key: str
    rollout: int
    seed: int
    domain: str | None = None
    score: float | None = None
    """The env's trajectory score; None when nothing could be judged or the episode failed to run."""
    return_: float = 0.0
    """Sum of the step rewards (equals ``score`` at trajectory level)."""
    turn_scores: list[float | None] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    """Verdicts by status (passed/failed/unjudged/error)."""
    end_reason: str | None = None
    """The env's end reason, ``agent_error`` when the agent raised, ``env_error`` when the env did."""
    terminated: bool = False
    truncated: bool = False
    steps: int = 0
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    """Per judged turn: ``{turn, score, required_failed, verdicts: [...]}``."""
    warnings: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    """The episode's errors (``EpisodeError.to_dict()``)."""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    evaluations: dict[str, Any] = field(default_factory=dict)
    """Official verdicts by evaluator (e.g. ``bfcl``)."""
    usage: dict[str, Any] = field(default_factory=dict)
    """LLM usage of the policy and of the env's simulator, user and judge."""
    agent_error: str | None = None
    agent_info: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0
    run_id: str | None = None
    """Fingerprint of the run configuration that wrote the record."""

    @classmethod
    def failed(cls, spec: EpisodeSpec, error: BaseException) -> "EpisodeRecord":
        """The record of an episode the env could not run (e.g. an unknown task id): kept, not lost."""
        return cls(spec.key, spec.task_id, spec.group_key, spec.rollout, spec.seed, end_reason="env_error",
                   agent_error=f"{type(error).__name__}: {error}")

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["return"] = out.pop("return_")
        if out["run_id"] is None:
            del out["run_id"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EpisodeRecord":
        known = {f.name for f in fields(cls)}
        data = {("return_" if k == "return" else k): v for k, v in data.items()}
        # None means "the field's default" (older files wrote null for empty lists); unknown keys are dropped
        return cls(**{k: v for k, v in data.items() if k in known and (v is not None or k in _NULLABLE)})


_NULLABLE = ("score", "domain", "end_reason", "agent_error", "run_id")


def read_records(path: str | os.PathLike, dedupe: bool = True) -> list[EpisodeRecord]:
    """The records of a run file, one per episode key (the last one wins) unless ``dedupe=False``.

    Unreadable lines (a torn tail, garbage in the middle) are skipped with a warning; the rest is read.
    """
    p = Path(path)
    if not p.exists():
        return []
    out: list[EpisodeRecord] = []
    bad = 0
    for line in p.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            out.append(EpisodeRecord.from_dict(json.loads(line)))
        except (ValueError, TypeError, KeyError, AttributeError):
            bad += 1
    if bad:
        log.warning("%s: skipped %d unreadable line(s)", p, bad)
    if dedupe:
        out = list({r.episode_key: r for r in out}.values())
    return out


async def run_episode(env: Any, agent: Any, spec: EpisodeSpec, max_steps: int = 256) -> EpisodeRecord:
    """Run one episode; an agent exception ends the episode with the error recorded (never lost)."""
    t0 = time.perf_counter()
    obs, info = await env.areset(seed=spec.seed, options={"task_id": spec.task_id, "group_key": spec.group_key})
    agent.reset(env.task, seed=spec.seed)
    agent_error = None
    steps = 0
    total_reward = 0.0
    terminated = truncated = False
    policy_usage = UsageMeter()  # the agent's own LLM calls (the env meters its simulator/user/judge)
    while not (terminated or truncated):
        if steps >= max_steps:
            agent_error = f"episode exceeded {max_steps} steps"
            break
        try:
            with track_usage(policy_usage):
                action = await agent.act(obs, info)
        except Exception as e:
            agent_error = f"{type(e).__name__}: {e}"
            break
        obs, reward, terminated, truncated, info = await env.astep(action)
        total_reward += reward
        steps += 1
    summary = env.summary
    if summary is None:  # the agent failed or ran out of steps: close the episode, keep what was judged
        summary = await env.afinish("agent_error")
    return EpisodeRecord(
        episode_key=spec.key,
        task_id=spec.task_id,
        group_key=spec.group_key,
        rollout=spec.rollout,
        seed=spec.seed,
        domain=env.task.domain,
        score=None if agent_error else summary.score,  # a broken agent is not a policy failure: no score
        return_=total_reward,
        turn_scores=summary.turn_scores,
        counts=summary.counts(),
        end_reason=summary.end_reason,
        terminated=terminated,
        truncated=truncated,
        steps=steps,
        verdicts=[t.to_dict() for t in summary.turns],
        warnings=list(summary.warnings),
        errors=[e.to_dict() for e in summary.errors],
        tool_calls=[c.to_dict() for c in summary.tool_calls],
        evaluations=dict(summary.evaluations),
        usage=_merged_usage(env, policy_usage),
        agent_error=agent_error,
        agent_info={"injected_faults": getattr(agent, "injected", None)},
        messages=list(env.messages),
        elapsed_s=round(time.perf_counter() - t0, 6),
    )


def _merged_usage(env: Any, policy_usage: UsageMeter) -> dict[str, Any]:
    total = UsageMeter()
    total.merge(policy_usage)
    env_usage = getattr(env, "usage", None)
    if isinstance(env_usage, UsageMeter):
        total.merge(env_usage)
    return total.to_dict()


async def run_rollouts(
    make_env: Callable[[], Any],
    make_agent: Callable[[], Any],
    specs: Iterable[EpisodeSpec],
    out_path: str | os.PathLike,
    concurrency: int = 1,
    on_record: Callable[[EpisodeRecord], None] | None = None,
    max_steps: int = 256,
    run_id: str | None = None,
) -> list[EpisodeRecord]:
    """Run the episodes not yet in ``out_path``; returns the records written by this call.

    ``run_id`` (a fingerprint of the run's configuration) is stored in every record and checked on resume.
    The output is locked (:func:`lock_output`) for the whole call: a second writer gets
    :class:`OutputLockedError` instead of duplicating episodes.
    """
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with lock_output(path):  # re-entrant: a caller (RunJob) may already hold it across its resume scan
        return await _run_rollouts_locked(make_env, make_agent, specs, path, concurrency, on_record, max_steps,
                                          run_id)


async def _run_rollouts_locked(
    make_env: Callable[[], Any],
    make_agent: Callable[[], Any],
    specs: Iterable[EpisodeSpec],
    path: Path,
    concurrency: int,
    on_record: Callable[[EpisodeRecord], None] | None,
    max_steps: int,
    run_id: str | None,
) -> list[EpisodeRecord]:
    done = read_done_keys(path, run_id)
    # longest first (stable): with C slots, the run ends when the last long episode does, so start those early
    todo = sorted((s for s in specs if s.key not in done), key=lambda s: -s.cost)
    envs: asyncio.Queue = asyncio.Queue()
    for _ in range(max(1, min(concurrency, len(todo)))):
        envs.put_nowait(make_env())
    written: list[EpisodeRecord] = []
    # backslashreplace: a lone surrogate in model output is written as its JSON escape (\udXXX), so the line
    # stays valid JSON and reads back to the same string instead of failing the whole write
    fh = path.open("a", encoding="utf-8", errors="backslashreplace")

    async def one(spec: EpisodeSpec) -> None:
        env = await envs.get()
        try:
            try:
                rec = await run_episode(env, make_agent(), spec, max_steps)
            except Exception as e:  # env-level failure (e.g. unknown task id): record it, don't lose the run
                rec = EpisodeRecord.failed(spec, e)
            rec.run_id = run_id
            fh.write(json.dumps(rec.to_dict(), ensure_ascii=False, default=str) + "\n")
            fh.flush()
            written.append(rec)
            if on_record:
                on_record(rec)
        finally:
            envs.put_nowait(env)

    sem = asyncio.Semaphore(max(1, concurrency))

    async def bounded(spec: EpisodeSpec) -> None:
        async with sem:
            await one(spec)

    try:
        await asyncio.gather(*(bounded(s) for s in todo))
    finally:
        fh.close()
    return written
