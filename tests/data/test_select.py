"""select: drop ratios per metric value (the reference's defaults), combined as independent drops, seeded."""

from __future__ import annotations

import json

import pytest

from cm2_env.data.io import DataError
from cm2_env.data.select import REFERENCE_DROP_RATIOS, STAGE, Options, drop_probability, uniform

OFF = {m: {} for m in REFERENCE_DROP_RATIOS}


def test_reference_defaults():
    o = Options()
    assert o.drop_ratios == REFERENCE_DROP_RATIOS and o.seed == 42
    assert o.drop_ratios["num_candidate_tools"] == {1: 0.7, 2: 0.4, 3: 0.0, 6: 0.0, 10: 0.0}


def test_combination_is_independent_drops():
    o = Options()
    p, why = drop_probability({"num_turns": 1, "num_selected_tools": 1, "num_candidate_tools": 5,
                               "tool_calls_total": 3}, o)
    assert p == pytest.approx(1 - 0.6 * 0.6)
    assert set(why) == {"num_turns=1->0.4", "num_selected_tools=1->0.4"}
    assert drop_probability({"num_turns": 3}, o) == (0.0, [])  # a listed value with ratio 0
    assert drop_probability({"num_turns": 7}, Options(default_drop_ratio=0.25))[0] == 0.25
    assert drop_probability({"num_turns": 3}, Options(default_drop_ratio=0.25))[0] == 0.0


def test_given_ratios_replace_defaults_metric_by_metric():
    o = Options(drop_ratios={"num_turns": {"1": 0.9}})
    assert o.drop_ratios["num_turns"] == {1: 0.9}
    assert o.drop_ratios["num_candidate_tools"] == REFERENCE_DROP_RATIOS["num_candidate_tools"]
    with pytest.raises(DataError, match="unknown metric"):
        from cm2_env.data.select import STAGE as S
        S.parse_options({"drop_ratios": {"num_tunrs": {1: 0.5}}})
    with pytest.raises(DataError, match="probability"):
        STAGE.parse_options({"drop_ratios": {"num_turns": {1: 1.5}}})


def test_seeded_order_independent_and_rate(tmp_path, data):
    rows = [data.good_record(f"r{i}") for i in range(1000)]  # one turn each
    inp = data.write_jsonl(tmp_path / "in.jsonl", rows)
    opts = {"drop_ratios": {**OFF, "num_turns": {1: 0.5}}, "seed": 7}
    rep = STAGE(inp, tmp_path / "a.jsonl", opts)
    assert rep["kept"] + rep["rejected"] == 1000 and 430 < rep["rejected"] < 570
    kept_a = {r["id"] for r in data.read_jsonl(tmp_path / "a.jsonl")}
    inp_rev = data.write_jsonl(tmp_path / "rev.jsonl", rows[::-1])
    STAGE(inp_rev, tmp_path / "b.jsonl", opts)
    assert {r["id"] for r in data.read_jsonl(tmp_path / "b.jsonl")} == kept_a
    STAGE(inp, tmp_path / "c.jsonl", {**opts, "seed": 8})
    assert {r["id"] for r in data.read_jsonl(tmp_path / "c.jsonl")} != kept_a
    rej = data.read_jsonl(tmp_path / "a.rejected.jsonl")[0]
    assert rej["reasons"][0].startswith("difficulty: dropped with p=0.500 (num_turns=1->0.5)")
    kept = data.read_jsonl(tmp_path / "a.jsonl")[0]
    assert kept["meta"]["stats"]["num_turns"] == 1
    assert all(uniform(7, r) == uniform(7, r) for r in ("x", "y"))


def test_extremes_and_resume(tmp_path, data):
    rows = [data.good_record(f"one{i}") for i in range(20)] + [data.good_record(f"two{i}", turns=2) for i in range(20)]
    inp = data.write_jsonl(tmp_path / "in.jsonl", rows)
    opts = {"drop_ratios": {**OFF, "num_turns": {1: 1.0, 2: 0.0}}}
    rep = STAGE(inp, tmp_path / "o.jsonl", opts)
    assert (rep["kept"], rep["rejected"]) == (20, 20)
    assert {r["id"][:3] for r in data.read_jsonl(tmp_path / "o.jsonl")} == {"two"}
    again = STAGE(inp, tmp_path / "o.jsonl", opts)
    assert (again["kept"], again["rejected"], again["skipped_already_done"]) == (20, 20, 40)


def test_cli_json_ratios(tmp_path, data, capsys):
    from cm2_env.cli import main

    inp = data.write_jsonl(tmp_path / "in.jsonl", [data.good_record(f"r{i}") for i in range(10)])
    ratios = json.dumps({**OFF, "num_turns": {"1": 1.0}})
    assert main(["data", "select", str(inp), "--out", str(tmp_path / "o.jsonl"), "--drop-ratios", ratios]) == 0
    assert "select: kept 0, rejected 10" in capsys.readouterr().out
    assert main(["data", "select", str(inp), "--out", str(tmp_path / "o.jsonl"), "--drop-ratios",
                 '{"bogus": {}}']) == 2
