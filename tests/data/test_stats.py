"""stats: the per-conversation metrics, their distributions and PNG plots."""

from __future__ import annotations

import pytest

from cm2_env.data.stats import METRICS, STAGE, compute_stats, summarize


def test_metrics_of_a_known_conversation(data):
    rec = data.good_record(turns=2, calls=2)
    st = compute_stats(rec["messages"], rec["tools"])
    assert st == {"num_turns": 2, "tool_calls_total": 4, "max_parallel_tool_calls": 2, "num_candidate_tools": 2,
                  "num_selected_tools": 1, "max_assistant_steps": 2, "num_assistant_messages": 4}
    assert set(st) == set(METRICS)


def test_leading_system_turn_as_the_reference_counts(data):
    rec = data.good_record()
    rec["messages"].insert(0, {"role": "system", "content": "sys"})
    assert compute_stats(rec["messages"], rec["tools"])["num_turns"] == 1
    assert compute_stats(rec["messages"], rec["tools"], leading_system_as_turn=True)["num_turns"] == 2


def test_summary_percentiles():
    from collections import Counter

    s = summarize(Counter({1: 50, 2: 40, 10: 10}))
    assert (s["count"], s["min"], s["max"], s["p50"], s["p90"], s["p99"]) == (100, 1, 10, 1, 2, 10)
    assert s["mean"] == pytest.approx((50 + 80 + 100) / 100)


def test_stage_report_and_plots(tmp_path, data):
    rows = [data.good_record(f"r{i}", turns=1 + i % 3, calls=1 + i % 2) for i in range(12)] + [{"id": "x", "messages": 3}]
    inp = data.write_jsonl(tmp_path / "in.jsonl", rows)
    rep = STAGE(inp, tmp_path / "stats.jsonl")
    assert rep["records"] == 12 and rep["rejected"] == 1
    d = rep["distributions"]["num_turns"]
    assert d["histogram"] == {"1": 4, "2": 4, "3": 4} and d["count"] == 12
    per = data.read_jsonl(tmp_path / "stats.jsonl")
    assert per[0]["id"] == "r0" and per[0]["num_turns"] == 1
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert rep["plots"] == [] and "matplotlib" in rep["plots_skipped"]
    else:
        assert len(rep["plots"]) == len(METRICS)
        png = (tmp_path / "stats.plots" / "num_turns_hist.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    rep = STAGE(inp, tmp_path / "np/stats.jsonl", {"plots": False})
    assert rep["plots"] == [] and not (tmp_path / "np/stats.plots").exists()


def test_cli_stats(tmp_path, data, capsys):
    from cm2_env.cli import main

    inp = data.write_jsonl(tmp_path / "in.jsonl", [data.good_record()])
    assert main(["data", "stats", str(inp), "--out", str(tmp_path / "s.jsonl"), "--no-plots",
                 "--leading-system-as-turn"]) == 0
    assert "stats: kept 1" in capsys.readouterr().out
