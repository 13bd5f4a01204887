"""RunJob: one writer per output (lock), build errors before anything is written, de-duplicated read-back,
all-failed runs reported."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import cm2_env
from agents import AGENTS
from agents.reference import ReferenceAgent
from cm2_env.rollout import (EpisodeRecord, OutputLockedError, lock_output, lock_path_of, plan_episodes,
                             read_records)
from cm2_env.runjob import RunJob, collect, summary_table

REPO = Path(__file__).resolve().parents[1]
HOLD = ("import sys\nfrom cm2_env.rollout import lock_output\n"
        "with lock_output(sys.argv[1]):\n    print('locked', flush=True)\n    sys.stdin.read()\n")


class _LockHolder:
    """Another process holding the output's lock until it is killed."""

    def __init__(self, out: Path):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], cwd=REPO, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "locked"

    def kill9(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc.stdin.close()
        self.proc.stdout.close()


def job(out: Path, **kw) -> RunJob:
    return RunJob(env_id="cm2/ToolTask-v0", out=out, env_kwargs={"task_selector": "banking-00*"}, quiet=True, **kw)


def test_lock_is_exclusive_across_processes_and_released_by_kill_9(tmp_path):
    out = tmp_path / "sub" / "o.jsonl"
    holder = _LockHolder(out)
    try:
        assert lock_path_of(out).read_text().strip() == str(holder.proc.pid)
        with pytest.raises(OutputLockedError, match=rf"another run \(pid {holder.proc.pid}\)"):
            with lock_output(out):
                pass
    finally:
        holder.kill9()
    with lock_output(out) as lock:  # the OS dropped the dead holder's lock; the stale file is harmless
        assert lock == lock_path_of(out) and lock.read_text().strip() == str(os.getpid())


def test_lock_is_reentrant_in_one_thread_and_exclusive_across_threads(tmp_path):
    out = tmp_path / "o.jsonl"
    errors: list[BaseException] = []

    def other() -> None:
        try:
            with lock_output(out):
                pass
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    with lock_output(out):
        with lock_output(out):  # RunJob holds it, run_rollouts takes it again
            pass
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert len(errors) == 1 and isinstance(errors[0], OutputLockedError)
    t = threading.Thread(target=other)  # released after the outer block
    t.start()
    t.join()
    assert len(errors) == 1


def test_run_refused_while_another_process_writes_the_output(tmp_path):
    out = tmp_path / "o.jsonl"
    assert job(out).run().ok
    before = out.read_bytes()
    holder = _LockHolder(out)
    try:
        res = job(out).run()
        assert not res.ok and "being written by another run" in res.error and res.records == []
        assert out.read_bytes() == before
    finally:
        holder.kill9()
    assert job(out).run().ok and out.read_bytes() == before  # resumes (nothing left) once the holder died


def test_agent_that_cannot_be_built_fails_before_anything_is_written(tmp_path):
    out = tmp_path / "sub" / "o.jsonl"
    res = job(out, agent="perturbed", agent_kwargs={"fault_rat": 0.3}).run()
    assert res.error and "cannot build agent 'perturbed'" in res.error and "fault_rat" in res.error
    assert "\n" not in res.error
    assert not out.parent.exists()  # no output, no lock file
    res = job(out, agent="no-such-agent").run()
    assert res.error and "unknown agent 'no-such-agent'" in res.error and not out.parent.exists()
    # the corrected command is not refused as "another run"
    assert job(out, agent="perturbed", agent_kwargs={"fault_rate": 0.3}).run().ok


def test_env_that_cannot_be_built_is_an_error_not_a_traceback(tmp_path):
    out = tmp_path / "o.jsonl"
    res = RunJob(env_id="cm2/ToolTask-v0", out=out, env_kwargs={"task_selector": "nope-*"}, quiet=True).run()
    assert res.error and "matches no task" in res.error and "\n" not in res.error
    assert not out.exists() and not lock_path_of(out).exists()


class _Crashing(ReferenceAgent):
    async def act(self, observation, info):
        raise RuntimeError("policy server down")


def test_all_failed_run_is_not_ok(tmp_path, monkeypatch):
    monkeypatch.setitem(AGENTS._factories, "crashing-test-agent", _Crashing)
    res = job(tmp_path / "o.jsonl", agent="crashing-test-agent").run()
    assert res.error is None and res.missing == 0 and res.records
    assert res.all_failed and not res.ok and len(res.failed) == len(res.records)
    assert job(tmp_path / "ok.jsonl").run().all_failed is False


def test_collect_and_summary_count_each_episode_once(tmp_path):
    out = tmp_path / "d.jsonl"
    assert job(out).run().ok
    specs = plan_episodes(cm2_env.make("cm2/ToolTask-v0", task_selector="banking-00*").tasks, None, 1, 0)
    lines = out.read_text().splitlines()
    dup = json.loads(lines[0])
    dup["score"] = 0.0  # an older, duplicated attempt of the same episode, written last
    out.write_text("\n".join(lines + [json.dumps(dup)]) + "\n")
    res = collect(out, specs)
    assert len(res.records) == len(specs) == len(lines) and res.missing == 0
    assert {r.episode_key: r.score for r in res.records}[dup["episode_key"]] == 0.0  # last wins
    table = summary_table([*res.records, EpisodeRecord.from_dict(dup)])
    all_row = next(x for x in table.splitlines() if x.startswith("ALL"))
    n = len(specs)
    assert all_row.split()[1:3] == [str(n), f"{(n - 1) / n:.3f}"]
    assert len(read_records(out)) == n
