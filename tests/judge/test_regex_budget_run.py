"""A task file with a catastrophic check regex: `cm2 run` finishes every episode, the item is an `error` verdict
with its reason, and the other items of the turn are judged as usual."""

from __future__ import annotations

import json
import time

from cm2_env.cli import main
from cm2_env.rollout import read_records

REPLY = "a" * 3000 + "!"
TASK = {
    "id": "redos", "tools": [], "turns": [{"user": "say a lot of a", "checklist": [
        {"id": "SLOW", "question": "q", "weight": 0.5, "check": {"type": "reply_matches", "regex": "(a|aa)+$"}},
        {"id": "FINE", "question": "q", "weight": 0.5, "check": {"type": "reply_matches", "any": ["aaa!"]}}]}],
    "reference": [{"role": "user", "content": "say a lot of a"}, {"role": "assistant", "content": REPLY}],
}


def test_catastrophic_regex_does_not_hang_a_run(tmp_path):
    tasks = tmp_path / "redos.json"
    tasks.write_text(json.dumps({"tasks": [TASK]}))
    assert main(["validate", str(tasks)]) == 0  # compiles fine: only running it is slow
    out = tmp_path / "run.jsonl"
    t0 = time.perf_counter()
    assert main(["run", "--tasks-file", str(tasks), "--episodes", "8", "--concurrency", "4", "--out", str(out),
                 "-q"]) == 0
    assert time.perf_counter() - t0 < 30
    records = read_records(out)
    assert len(records) == 8
    for r in records:
        verdicts = {v["id"]: v for v in r.verdicts[0]["verdicts"]}
        assert verdicts["SLOW"]["status"] == "error" and "timed out" in verdicts["SLOW"]["rationale"]
        assert verdicts["FINE"]["status"] == "passed"
        assert r.score == 1.0  # the errored item leaves the denominator, it is not scored 0
