"""split: exactly N to the SFT set, seeded, order independent, disjoint, resumable."""

from __future__ import annotations

import random

from cm2_env.data.split import STAGE


def _ids(data, path):
    return [r["id"] for r in data.read_jsonl(path)]


def test_split_sizes_disjoint_and_seeded(tmp_path, data):
    rows = [data.good_record(f"r{i}") for i in range(50)]
    inp = data.write_jsonl(tmp_path / "in.jsonl", rows)
    rep = STAGE(inp, tmp_path / "rl.jsonl", {"sft_size": 12, "seed": 3})
    assert (rep["sft"], rep["rl"], rep["kept"]) == (12, 38, 38)
    assert rep["outputs"]["sft"] == str(tmp_path / "rl.sft.jsonl")
    sft, rl = _ids(data, tmp_path / "rl.sft.jsonl"), _ids(data, tmp_path / "rl.jsonl")
    assert not set(sft) & set(rl) and set(sft) | set(rl) == {r["id"] for r in rows}
    # same seed, shuffled input: the same SFT set; another seed: another set
    shuffled = rows[:]
    random.Random(0).shuffle(shuffled)
    inp2 = data.write_jsonl(tmp_path / "in2.jsonl", shuffled)
    STAGE(inp2, tmp_path / "b/rl.jsonl", {"sft_size": 12, "seed": 3, "sft_out": str(tmp_path / "b/sft.jsonl")})
    assert set(_ids(data, tmp_path / "b/sft.jsonl")) == set(sft)
    STAGE(inp, tmp_path / "c/rl.jsonl", {"sft_size": 12, "seed": 4})
    assert set(_ids(data, tmp_path / "c/rl.sft.jsonl")) != set(sft)
    # records are written unchanged
    assert data.read_jsonl(tmp_path / "rl.jsonl")[0] == next(r for r in rows if r["id"] == rl[0])


def test_split_resume_and_small_input(tmp_path, data):
    inp = data.write_jsonl(tmp_path / "in.jsonl", [data.good_record(f"r{i}") for i in range(10)] + ["{bad"])
    first = STAGE(inp, tmp_path / "rl.jsonl", {"sft_size": 4})
    again = STAGE(inp, tmp_path / "rl.jsonl", {"sft_size": 4})
    assert (again["sft"], again["rl"], again["rejected"]) == (first["sft"], first["rl"], 1) == (4, 6, 1)
    assert again["skipped_already_done"] == 11
    small = STAGE(inp, tmp_path / "s/rl.jsonl", {"sft_size": 50})
    assert small["sft"] == 10 and small["rl"] == 0 and "fewer than sft_size" in small["warning"]
