"""Smoke test of bench/judge_cost.py on a few starter tasks (targets and the memo property must hold)."""

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "judge_cost.py"


def test_judge_cost_bench(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("cm2_bench_judge_cost", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "jc.json"
    rc = mod.main(["--tasks", "weather-00[12],banking-001", "--group-size", "4", "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    data = json.loads(out.read_text())
    b, c = data["judge"]["batched/reference"], data["judge"]["cm2/reference"]
    assert b["calls_per_episode"] <= 0.2 * c["calls_per_episode"]
    assert b["prompt_tokens_per_episode"] <= 0.35 * c["prompt_tokens_per_episode"]
    assert b["judge_failures"] == 0 and data["memo"]["one_llm_call_per_identical_call"]
