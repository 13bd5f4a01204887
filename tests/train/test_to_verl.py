"""`cm2 data to-verl`: verl parquet rows from cm2 tasks, deterministic split by seed."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cm2_env.data.to_verl import split_tasks, to_verl


def _suite_tasks():
    from cm2_env.tasks import load_suite

    try:
        tasks = load_suite("starter")
    except Exception as e:  # the bundled suite is optional for this test module
        pytest.skip(f"starter suite unavailable: {e}")
    if len(tasks) < 4:
        pytest.skip("starter suite too small")
    return tasks


def test_rows_have_the_columns_verl_reads(tmp_path, weather_task_file):
    summary = to_verl(str(weather_task_file), tmp_path, val_fraction=0.0, seed=0)
    df = pd.read_parquet(summary["train"])
    assert list(df.columns) == ["data_source", "prompt", "agent_name", "ability", "reward_model", "extra_info"]
    row = df.iloc[0]
    assert row["data_source"] == "cm2/weather"
    assert row["agent_name"] == "cm2_env"
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert row["prompt"][1]["content"] == "What is the weather in Paris?"
    extra = row["extra_info"]
    assert extra["task_id"] == "weather-001" and extra["env_id"] == "cm2/ToolTask-v0"
    assert json.loads(extra["env_kwargs"]) == {"tasks": str(weather_task_file.resolve())}
    assert extra["index"] == 0 and extra["split"] == "train"
    assert row["reward_model"]["ground_truth"] == "weather-001"
    assert pd.read_parquet(summary["val"]).empty


def test_verl_dataset_loads_rows_and_the_row_drives_the_env(tmp_path, weather_task_file, tiny_lm):
    import cm2_env
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from train_fixtures import compose_grpo

    _, tok, _ = tiny_lm
    summary = to_verl(str(weather_task_file), tmp_path, val_fraction=0.0, seed=0)
    cfg = compose_grpo([f"data.train_files={summary['train']}"])
    ds = RLHFDataset(data_files=[summary["train"]], tokenizer=tok, config=cfg.data)
    item = ds[0]
    assert item["agent_name"] == "cm2_env"
    assert item["raw_prompt"][1]["content"] == "What is the weather in Paris?"
    assert item["index"] == 0 and item["data_source"] == "cm2/weather"
    extra = item["extra_info"]
    env = cm2_env.make(extra["env_id"], **json.loads(extra["env_kwargs"]))
    obs, info = env.reset(options={"task_id": extra["task_id"]})
    assert obs == list(item["raw_prompt"])
    assert info["task_id"] == "weather-001"


def test_split_is_deterministic_by_seed(tmp_path):
    tasks = _suite_tasks()
    a_train, a_val = split_tasks(tasks, 0.25, seed=1)
    b_train, b_val = split_tasks(list(reversed(tasks)), 0.25, seed=1)  # input order does not matter
    assert [t.id for t in a_val] == [t.id for t in b_val]
    assert {t.id for t in a_train} | {t.id for t in a_val} == {t.id for t in tasks}
    assert not {t.id for t in a_train} & {t.id for t in a_val}
    assert len(a_val) == round(len(tasks) * 0.25)
    other = {tuple(t.id for t in split_tasks(tasks, 0.25, seed=s)[1]) for s in range(2, 8)}
    assert len(other | {tuple(t.id for t in a_val)}) > 1  # different seeds give different splits

    s1 = to_verl("starter", tmp_path / "a", val_fraction=0.25, seed=1)
    s2 = to_verl("starter", tmp_path / "b", val_fraction=0.25, seed=1)
    for name in ("train", "val"):
        pd.testing.assert_frame_equal(pd.read_parquet(s1[name]), pd.read_parquet(s2[name]))
    val = pd.read_parquet(s1["val"])
    assert sorted(e["task_id"] for e in val["extra_info"]) == [t.id for t in a_val]
    assert json.loads(val.iloc[0]["extra_info"]["env_kwargs"]) == {"tasks": "starter"}  # suite name kept
    # indices are unique across train and val
    idx = [e["index"] for e in pd.read_parquet(s1["train"])["extra_info"]] + [e["index"] for e in val["extra_info"]]
    assert len(set(idx)) == len(idx)


def test_cli(tmp_path, weather_task_file, capsys):
    from cm2_env.cli import main

    rc = main(["data", "to-verl", "--tasks", str(weather_task_file), "--out", str(tmp_path / "o"),
               "--val-fraction", "0", "--repeat", "3", "--env-arg", "end_on_tool_error=true"])
    assert rc == 0
    df = pd.read_parquet(tmp_path / "o" / "train.parquet")
    assert len(df) == 3 and df["extra_info"].map(lambda e: e["task_id"]).tolist() == ["weather-001"] * 3
    assert json.loads(df.iloc[0]["extra_info"]["env_kwargs"])["end_on_tool_error"] is True
    assert "wrote 3 train rows" in capsys.readouterr().out


def test_prompt_lengths_with_a_tokenizer(tmp_path, tiny_lm):
    import copy

    from train_fixtures import WEATHER_TASK, WEATHER_TOOLS

    from cm2_env.data.to_verl import prompt_token_counts
    from cm2_env.tasks import load_tasks

    _, tok, _ = tiny_lm
    long_task = copy.deepcopy(WEATHER_TASK)
    long_task["id"] = "weather-002"
    long_task["system_prompt"] = "You are a weather assistant. " * 40
    f = tmp_path / "two.json"
    f.write_text(json.dumps({"version": 1, "tasks": [WEATHER_TASK, long_task]}))
    counts = prompt_token_counts(load_tasks(f), tok)
    opening = [{"role": "system", "content": WEATHER_TASK["system_prompt"]},
               {"role": "user", "content": WEATHER_TASK["turns"][0]["user"]}]
    ids = tok.apply_chat_template(opening, tools=WEATHER_TOOLS, add_generation_prompt=True, tokenize=True,
                                  return_dict=True)["input_ids"]
    assert counts["weather-001"] == len(ids)  # what the agent loop's prompt will be
    assert counts["weather-002"] > counts["weather-001"]

    limit = counts["weather-001"]
    summary = to_verl(str(f), tmp_path / "o", val_fraction=0.0, tokenizer=tok, max_prompt_length=limit)
    assert summary["dropped_overlong"] == ["weather-002"] and summary["train_rows"] == 1
    assert summary["prompt_tokens"]["max"] == counts["weather-002"]
    with pytest.raises(ValueError):
        to_verl(str(f), tmp_path / "p", tokenizer=tok, max_prompt_length=limit - 1)
