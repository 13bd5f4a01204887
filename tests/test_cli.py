"""The `cm2` CLI: list, run (records, summary), kill -9 and resume without duplicate or missing episodes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cm2_env
from cm2_env.cli import main
from cm2_env.tasks import list_suites, load_suite

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "cm2_env.cli"]


def run_main(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        rc = main(argv)
    return rc, out.getvalue()


def test_list_shows_env_ids_suites_and_counts():
    rc, out = run_main(["list"])
    assert rc == 0
    n = len(load_suite("starter"))
    for env_id in cm2_env.ENV_IDS:
        assert env_id in out
    line = next(x for x in out.splitlines() if x.startswith("cm2/ToolTask-v0"))
    assert str(n) in line.split()
    for suite in list_suites():
        row = next(x for x in out.splitlines() if x.split() and x.split()[0] == suite)
        assert row.split()[1] == str(len(load_suite(suite)))


def test_run_writes_one_record_per_episode(tmp_path):
    out = tmp_path / "ref.jsonl"
    rc, text = run_main(["run", "--agent", "reference", "--tasks", "banking-*", "--episodes", "3",
                         "--group-size", "2", "--out", str(out), "-q"])
    assert rc == 0
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(recs) == 6
    assert len({r["episode_key"] for r in recs}) == 6
    for r in recs:
        assert r["task_id"].startswith("banking-")
        assert r["messages"] and r["messages"][0]["role"] == "system"
        assert r["verdicts"] and r["turn_scores"] and r["score"] == pytest.approx(1.0)
    assert "ALL" in text and "mean score" in text and "6 episode(s) recorded" in text
    # the summary's mean is right
    all_row = next(x for x in text.splitlines() if x.startswith("ALL"))
    assert all_row.split()[1:3] == ["6", "1.000"]


def test_run_perturbed_with_agent_and_env_args(tmp_path):
    out = tmp_path / "p.jsonl"
    rc, text = run_main(["run", "--agent", "perturbed", "--tasks", "domain:travel", "--seed", "3",
                         "--agent-arg", "fault_rate=1.0", "--agent-arg", 'faults=["unknown_tool"]',
                         "--env-arg", "end_on_tool_error=true", "--out", str(out), "-q"])
    assert rc == 0
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert recs and all(r["domain"] == "travel" for r in recs)
    assert all(r["end_reason"] == "tool_error" for r in recs)  # the env arg took effect
    assert all(f["fault"] == "unknown_tool" for r in recs for f in r["agent_info"]["injected_faults"])


def test_run_tasks_file(tmp_path):
    task = {"id": "mini", "tools": [], "turns": [
        {"user": "hi", "checklist": [{"id": "C0", "question": "q", "weight": 1,
                                      "check": {"type": "reply_matches", "any": ["hello"]}}]}],
            "reference": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello!"}]}
    f = tmp_path / "t.json"
    f.write_text(json.dumps([task]))
    out = tmp_path / "o.jsonl"
    rc, text = run_main(["run", "--tasks-file", str(f), "--episodes", "2", "--out", str(out), "-q"])
    assert rc == 0
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["task_id"] for r in recs] == ["mini", "mini"] and all(r["score"] == 1.0 for r in recs)


def test_run_selector_matching_nothing_fails(tmp_path):
    r = subprocess.run(CLI + ["run", "--tasks", "no-such-task-*", "--out", str(tmp_path / "x.jsonl"), "-q"],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode != 0
    assert "matches no task" in r.stderr
    assert not (tmp_path / "x.jsonl").exists() or (tmp_path / "x.jsonl").read_text() == ""


def test_kill_and_resume(tmp_path):
    """kill -9 a running `cm2 run`, rerun the same command: every planned episode exactly once."""
    out = tmp_path / "runs.jsonl"
    episodes, group = 150, 4
    cmd = CLI + ["run", "--agent", "perturbed", "--episodes", str(episodes), "--group-size", str(group),
                 "--concurrency", "2", "--seed", "11", "--out", str(out), "-q"]
    total = episodes * group
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 25:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the run finished before it could be killed; make it longer"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    partial = out.read_bytes().count(b"\n")
    assert 0 < partial < total

    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = out.read_text().splitlines()
    keys = [json.loads(x)["episode_key"] for x in lines]  # every line is whole JSON
    assert len(keys) == len(set(keys)), "duplicate episodes after resume"
    planned = {f"{t}#{slot}.{g}" for slot, t in
               ((s, [t.id for t in load_suite("starter")][s % len(load_suite("starter"))]) for s in range(episodes))
               for g in range(group)}
    assert set(keys) == planned
    assert f"{total} episode(s) recorded" in r.stdout and "missing" not in r.stdout


def test_rerun_of_complete_run_adds_nothing(tmp_path):
    out = tmp_path / "r.jsonl"
    args = ["run", "--tasks", "banking-00*", "--out", str(out), "-q"]
    assert run_main(args)[0] == 0
    before = out.read_text()
    rc, text = run_main(args)
    assert rc == 0 and out.read_text() == before


def test_validate_ok_on_bundled_suite():
    from cm2_env.tasks.bundled import SUITES_DIR

    files = sorted(str(p) for p in (SUITES_DIR / "starter").glob("*.json"))
    rc, out = run_main(["validate", *files])
    assert rc == 0 and out.count(": OK") == len(files)


def test_env_arg_parsing():
    from cm2_env.config import parse_kv

    assert parse_kv(["a=1", "b=true", 'c={"x": [1]}', "d=plain text", "e=a=b"]) == {
        "a": 1, "b": True, "c": {"x": [1]}, "d": "plain text", "e": "a=b"}
    with pytest.raises(SystemExit):
        parse_kv(["novalue"])


def test_two_concurrent_runs_on_one_output_exactly_one_proceeds(tmp_path):
    """Two `cm2 run` started together on one --out: one runs, the other is refused (exit 2, writes nothing)."""
    out = tmp_path / "race.jsonl"
    # long enough that the winner is still running when the loser reaches the lock; killed once decided
    cmd = CLI + ["run", "--agent", "perturbed", "--episodes", "20000", "--concurrency", "2", "--out", str(out), "-q"]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and all(p.poll() is None for p in procs):
            time.sleep(0.02)
        done = [p for p in procs if p.poll() is not None]
        assert len(done) == 1, "neither run was refused"
        loser, winner = done[0], next(p for p in procs if p is not done[0])
        _, err = loser.communicate(timeout=30)
        assert loser.returncode == 2, err
        assert "being written by another run" in err and f"pid {winner.pid}" in err
        assert winner.poll() is None  # the other one is still running
        while time.monotonic() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < 20):
            time.sleep(0.02)  # let the winner record some episodes before it is killed
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
            p.communicate(timeout=30)
    keys = [json.loads(x)["episode_key"] for x in out.read_text().splitlines()[:-1]]
    assert keys and len(keys) == len(set(keys))
    from cm2_env.rollout import lock_output

    with lock_output(out):  # kill -9 released the winner's lock
        pass


def test_mistyped_agent_arg_fails_before_recording_and_the_fix_runs(tmp_path):
    out = tmp_path / "typo.jsonl"
    base = CLI + ["run", "--agent", "perturbed", "--tasks", "banking-00*", "--out", str(out), "-q"]
    r = subprocess.run(base + ["--agent-arg", "fault_rat=0.3"], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "cannot build agent 'perturbed'" in r.stderr
    assert "fault_rat" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() and not (tmp_path / "typo.jsonl.lock").exists()
    r = subprocess.run(base + ["--agent-arg", "fault_rate=0.3"], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr  # not refused as "another run"


class _CrashingAgent:
    def __init__(self, **kwargs):
        pass

    def reset(self, task, seed=None):
        pass

    async def act(self, observation, info):
        raise ConnectionError("policy server unreachable")


def test_run_where_every_episode_errored_exits_1(tmp_path, monkeypatch):
    from agents import AGENTS

    monkeypatch.setitem(AGENTS._factories, "crashing-cli-test", _CrashingAgent)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["run", "--agent", "crashing-cli-test", "--tasks", "banking-00*", "--out",
                   str(tmp_path / "f.jsonl"), "-q"])
    assert rc == 1
    assert "all" in err.getvalue() and "failed" in err.getvalue() and "policy server unreachable" in err.getvalue()


def test_rerun_summary_counts_duplicated_episodes_once(tmp_path):
    out = tmp_path / "dup.jsonl"
    args = ["run", "--tasks", "banking-00*", "--out", str(out), "-q"]
    rc, text = run_main(args)
    assert rc == 0
    lines = out.read_text().splitlines()
    n = len(lines)
    out.write_text("\n".join(lines + lines[:1]) + "\n")  # a file written by two racing runs before the lock
    rc, text = run_main(args)
    all_row = next(x for x in text.splitlines() if x.startswith("ALL"))
    assert rc == 0 and all_row.split()[1:3] == [str(n), "1.000"] and f"{n} episode(s) recorded" in text
