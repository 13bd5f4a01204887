"""The Hydra sweep: a 2x2 grid (reference/perturbed x reward_level) offline from one call, resumable, and its
summary opened by `cm2 view` as a comparison."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from cm2_env.viewer.model import build_index, load_inputs
from cm2_env.viewer.report import build_report

GRID = ["-m", "agent=reference,perturbed", "env.kwargs.reward_level=turn,trajectory", "tasks=domain:weather",
        "concurrency=4"]


def sweep(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "cm2_env.sweep", *args], cwd=cwd, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    out = d / "multirun"
    r = sweep(d, *GRID, f"hydra.sweep.dir={out}")
    return out, r


def test_grid_runs_one_job_per_combination(grid):
    out, r = grid
    runs = sorted(out.glob("*/episodes.jsonl"))
    assert len(runs) == 4 and all((p.parent / "result.json").exists() for p in runs)
    assert all(len(p.read_text().splitlines()) == 5 for p in runs)  # the 5 weather tasks each
    with (out / "sweep_summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    labels = [row["label"] for row in rows]
    assert labels == ["agent=reference env.kwargs.reward_level=turn", "agent=reference env.kwargs.reward_level=trajectory",
                      "agent=perturbed env.kwargs.reward_level=turn", "agent=perturbed env.kwargs.reward_level=trajectory"]
    by = {row["label"]: row for row in rows}
    assert float(by[labels[0]]["mean_score"]) == 1.0 == float(by[labels[1]]["mean_score"])
    assert float(by[labels[2]]["mean_score"]) < 1.0
    # reward level changes the return (turn: a reward per turn), not the trajectory score
    assert float(by[labels[0]]["mean_return"]) > float(by[labels[1]]["mean_return"]) == 1.0
    assert '"reward_level": "turn"' in by[labels[0]]["env_kwargs"] and by[labels[2]]["agent"] == "perturbed"
    md = (out / "sweep_summary.md").read_text()
    assert md.count("\n| agent=") == 4 and "cm2 view" in md
    assert "[sweep] summary:" in r.stdout


def test_rerun_resumes(grid, tmp_path):
    out, _ = grid
    before = {p: p.read_text() for p in out.glob("*/episodes.jsonl")}
    sweep(tmp_path, *GRID, f"hydra.sweep.dir={out}")
    assert {p: p.read_text() for p in out.glob("*/episodes.jsonl")} == before  # nothing run twice


def test_view_opens_the_sweep_as_a_comparison(grid, tmp_path):
    out, _ = grid
    inputs = load_inputs([out / "sweep_summary.csv"])
    assert [r.name for r in inputs.runs][0] == "agent=reference env.kwargs.reward_level=turn"
    idx = build_index(inputs)
    assert len(idx["comparisons"]) == 6 and len(idx["sweep"]["rows"]) == 4
    c = next(c for c in idx["comparisons"] if (c["a"], c["b"]) == (0, 2))  # reference vs perturbed, turn level
    assert c["summary"]["matched_episodes"] == 5 and c["summary"]["mean_delta"] < 0
    same = next(c for c in idx["comparisons"] if (c["a"], c["b"]) == (0, 1))  # reward level alone: same scores
    assert same["summary"]["flips"] == 0 and same["summary"]["mean_delta"] == 0
    page = build_report([out], tmp_path / "sweep.html")  # the sweep directory works too
    assert page.exists()


def test_view_of_the_sweep_in_a_browser(grid, chromium, tmp_path):
    from viewer_helpers import dump_dom, parse_dom

    out, _ = grid
    page = build_report([out / "sweep_summary.csv"], tmp_path / "sweep.html")
    dom = parse_dom(dump_dom(chromium, page.as_uri(), tmp_path / "profile"))
    assert len(dom.find(data_testid="sweep-table").find("tbody").find_all("tr")) == 4
    dom = parse_dom(dump_dom(chromium, page.as_uri() + "#/compare/0/2", tmp_path / "profile"))
    assert len(dom.testid("delta-row")) == 5 and float(dom.testid("delta-row")[0].attrs["data-delta"]) < 0


def test_cm2_sweep_entry_points(tmp_path):
    """add_parser/run (what `cm2 sweep` registers): a single job, no -m."""
    code = ("import argparse, sys; from cm2_env.sweep import add_parser, run; p = argparse.ArgumentParser(); "
            "add_parser(p); sys.exit(run(p.parse_args(sys.argv[1:])))")
    r = subprocess.run([sys.executable, "-c", code, "agent=perturbed", "agent.args.fault_rate=1.0", "tasks=weather-001",
                        f"hydra.run.dir={tmp_path / 'one'}"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert len((tmp_path / "one" / "episodes.jsonl").read_text().splitlines()) == 1
    assert "agent=perturbed agent.args.fault_rate=1.0 tasks=weather-001: 1 episode(s)" in r.stdout
    bad = subprocess.run([sys.executable, "-c", code, "agent=nope", f"hydra.run.dir={tmp_path / 'x'}"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "nope" in bad.stderr
