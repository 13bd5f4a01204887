"""to-tasks: labelled records → a task file that gym.make, cm2 validate, the reference agent (offline, tool
results replayed from the trajectory) and cm2 data to-verl accept."""

from __future__ import annotations

import json

import pytest

from cm2_env.data.to_tasks import STAGE


def _tasks_file(tmp_path, data, n=3):
    rows = [data.labelled(data.good_record(f"rec-{i}", turns=1 + i % 2)) for i in range(n)]
    unlabelled = data.good_record("nolabel")
    broken = data.labelled(data.good_record("badweights"))
    broken["checklists"][0][0][0]["weight"] = 0.9
    inp = data.write_jsonl(tmp_path / "labelled.jsonl", rows + [unlabelled, broken])
    rep = STAGE(inp, tmp_path / "tasks.jsonl", {"domain": "synthetic"})
    return rep, tmp_path / "tasks.jsonl"


def test_tasks_and_rejections(tmp_path, data):
    rep, path = _tasks_file(tmp_path, data)
    assert (rep["kept"], rep["rejected"]) == (3, 2)
    rej = {r["id"]: r["reasons"] for r in data.read_jsonl(tmp_path / "tasks.rejected.jsonl")}
    assert rej["nolabel"][0].startswith("unlabelled:")
    assert rej["badweights"][0].startswith("invalid_task:") and "weights sum" in rej["badweights"][0]
    task = data.read_jsonl(path)[1]
    assert task["id"] == "rec-1" and task["domain"] == "synthetic" and len(task["turns"]) == 2
    assert task["metadata"]["provenance"] == {"format": "test"}
    assert task["reference"][2]["tool_call_id"] == task["reference"][1]["tool_calls"][0]["id"]


def test_validate_gym_make_reference_episode_and_verl(tmp_path, data):
    import gymnasium as gym

    import cm2_env  # noqa: F401 - registers the env ids
    from cm2_env.cli import main
    from cm2_env.tasks import validate_file

    _, path = _tasks_file(tmp_path, data)
    assert validate_file(path) == []
    env = gym.make("cm2/ToolTask-v0", tasks=str(path))
    obs, info = env.reset(seed=0)
    assert obs is not None
    env.close()
    episodes = tmp_path / "episodes.jsonl"
    assert main(["run", "--tasks-file", str(path), "--agent", "reference", "--out", str(episodes), "--quiet"]) == 0
    recs = data.read_jsonl(episodes)
    assert len(recs) == 3 and all(not r["errors"] and not r["agent_error"] for r in recs)
    sources = [c["source"] for r in recs for c in r["tool_calls"]]
    assert sources and set(sources) == {"replay"}  # every tool result came from the recorded trajectory
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    assert main(["data", "to-verl", "--tasks", str(path), "--out", str(tmp_path / "verl"), "--val-fraction", "0.34"]) == 0
    import pandas as pd

    train = pd.read_parquet(tmp_path / "verl" / "train.parquet")
    val = pd.read_parquet(tmp_path / "verl" / "val.parquet")
    assert len(train) + len(val) == 3
    assert json.loads(train.iloc[0]["extra_info"]["env_kwargs"])["tasks"] == str(path.resolve())


def test_unlabelled_allowed_and_variant(tmp_path, data):
    rec = data.good_record("u")
    lab = data.labelled(data.good_record("v"))
    lab["checklists"].append(data.checklists_for(lab)[0])
    inp = data.write_jsonl(tmp_path / "in.jsonl", [rec, lab])
    rep = STAGE(inp, tmp_path / "t.jsonl", {"require_checklists": False, "variant": 1})
    assert rep["kept"] == 2
    tasks = data.read_jsonl(tmp_path / "t.jsonl")
    assert tasks[0]["turns"][0]["checklist"] == [] and tasks[1]["metadata"]["checklist_variant"] == 1
    assert len(tasks[1]["checklist_variants"]) == 2
    rep = STAGE(inp, tmp_path / "t2.jsonl", {"variant": 5})
    assert rep["rejected"] == 2


def test_output_must_be_jsonl(tmp_path, data):
    from cm2_env.data.io import DataError

    inp = data.write_jsonl(tmp_path / "in.jsonl", [])
    with pytest.raises(DataError, match="jsonl"):
        STAGE(inp, tmp_path / "t.json")


def test_cm2_sample_to_tasks(tmp_path, cm2_fixture):
    from cm2_env.data.convert import STAGE as CONVERT
    from cm2_env.tasks import load_tasks

    CONVERT(cm2_fixture, tmp_path / "c.jsonl")
    rep = STAGE(tmp_path / "c.jsonl", tmp_path / "t.jsonl")
    assert rep["kept"] == 1
    (task,) = load_tasks(tmp_path / "t.jsonl")
    src = json.loads(cm2_fixture.read_text())[0]
    assert task.id == src["uuid"] and len(task.turns) == len(src["checklists"][0])
