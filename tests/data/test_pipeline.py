"""The configured pipeline: the rule stages end to end through Hydra, resume, overrides, multirun, and any
registered stage run generically by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cm2_env.data.io import DataError
from cm2_env.data.pipeline import hydra_main, run_pipeline
from cm2_env.data.stage import STAGES, StageOptions, StageSpec


def _raw(tmp_path, data, n=30):
    rows = []
    for i in range(n):
        row = data.nemotron_row(f"u{i:03d}", turns=1 + i % 3, calls=1 + i % 2)
        rows.append(row)
    bad_think = data.nemotron_row("bad-think")
    bad_think["messages"][-1]["content"] = "no think block"
    bad_meta = data.nemotron_row("bad-meta")
    bad_meta["metadata"] = "{"
    return data.write_jsonl(tmp_path / "raw.jsonl", rows + [bad_think, bad_meta, "{torn"])


def _statuses(run_dir):
    return {s["step"]: s["status"] for s in json.loads((Path(run_dir) / "pipeline.json").read_text())["steps"]}


def test_rules_pipeline_end_to_end_resume_and_overrides(tmp_path, data):
    raw = _raw(tmp_path, data)
    run = tmp_path / "run"
    args = [f"input={raw}", f"hydra.run.dir={run}", "steps.split.options.sft_size=5"]
    assert hydra_main(args, config="rules") == 0
    summary = json.loads((run / "pipeline.json").read_text())
    steps = {s["step"]: s for s in summary["steps"]}
    assert steps["convert"]["kept"] == 31 and steps["convert"]["rejected"] == 2
    assert steps["filter"]["kept"] == 30 and steps["filter"]["rejected"] == 1
    assert steps["split"]["outputs"]["sft"].endswith("04_split.sft.jsonl")
    assert steps["split"]["kept"] == 25
    assert steps["select"]["input"] == steps["split"]["output"]
    assert steps["select"]["kept"] + steps["select"]["rejected"] == 25
    assert steps["stats_selected"]["input"] == steps["select"]["output"]
    assert steps["to_tasks"]["input"] == steps["select"]["output"]  # stats only reads, the chain goes on
    for name in ("llm_filter", "compress_cot", "label", "derive_checks"):
        assert steps[name]["status"] == "disabled"
    filt = json.loads((run / "01_filter.report.json").read_text())
    assert filt["rules"]["think_tags"] == 1
    rej = [json.loads(x) for x in (run / "01_filter.rejected.jsonl").read_text().splitlines()]
    assert rej[0]["id"] == "bad-think" and rej[0]["reasons"][0].startswith("think_tags:")
    tasks = Path(summary["final"])
    assert tasks.name == "10_to_tasks.jsonl"
    from cm2_env.tasks import load_tasks

    assert len(load_tasks(tasks)) == steps["select"]["kept"]

    # the same run again: every step is done
    assert hydra_main(args, config="rules") == 0
    assert set(_statuses(run).values()) == {"done before", "disabled"}

    # an option changed: that step and every later one afresh, the earlier ones untouched
    assert hydra_main(args + ["steps.select.options.seed=7"], config="rules") == 0
    st = _statuses(run)
    assert st["split"] == "done before" and st["select"] == "rerun afresh" and st["to_tasks"] == "rerun afresh"

    # a step cut short (its report still marked incomplete, a torn line): resumed, no duplicates
    out = run / "01_filter.jsonl"
    report = run / "01_filter.report.json"
    report.write_text(json.dumps({**json.loads(report.read_text()), "complete": False}))
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:10]) + lines[10][:20])
    assert hydra_main(args + ["steps.select.options.seed=7"], config="rules") == 0
    st = _statuses(run)
    assert st["convert"] == "done before" and st["filter"] == "resumed"
    ids = [json.loads(x)["id"] for x in out.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 30
    rep = json.loads((run / "01_filter.report.json").read_text())
    assert (rep["kept"], rep["rejected"], rep["skipped_already_done"]) == (30, 1, 11)


def test_multirun(tmp_path, data):
    raw = _raw(tmp_path, data, n=10)
    sweep = tmp_path / "sweep"
    assert hydra_main(["-m", f"input={raw}", f"hydra.sweep.dir={sweep}", "steps.split.options.sft_size=2",
                       "steps.select.options.seed=1,2"], config="rules") == 0
    runs = sorted(p.parent for p in sweep.rglob("pipeline.json"))
    assert len(runs) == 2 and all((r / "10_to_tasks.jsonl").exists() for r in runs)


def test_cm2_data_run_cli(tmp_path, data, capsys):
    from cm2_env.cli import main

    raw = _raw(tmp_path, data, n=5)
    assert main(["data", "run", "rules", f"input={raw}", f"hydra.run.dir={tmp_path / 'r'}",
                 "steps.split.options.sft_size=1"]) == 0
    assert "final output" in capsys.readouterr().out
    # a YAML file as CONFIG
    cfg = tmp_path / "mine.yaml"
    cfg.write_text("input: ???\nsteps:\n  convert: {stage: convert}\n  filter: {stage: filter, options: {think_tags: false}}\n")
    assert main(["data", "run", str(cfg), f"input={raw}", f"hydra.run.dir={tmp_path / 'm'}"]) == 0
    assert (tmp_path / "m" / "01_filter.report.json").exists()


class _FakeOptions(StageOptions):
    tag: str = "x"
    """Written into each record's meta."""


def _fake_run(inp, out, options, *, resume=True):
    from cm2_env.data.io import StageOutput, iter_records

    with StageOutput(out, "fake-llm", resume=resume, options=options.model_dump(mode="json"), input=str(inp)) as so:
        for _, rec in iter_records(inp, so):
            rec.setdefault("meta", {})["fake"] = options.tag
            so.keep(rec)
        return so.finish(cost_usd=0.25)


def test_any_registered_stage_runs_by_name(tmp_path, data, monkeypatch):
    monkeypatch.setitem(STAGES._factories, "fake-llm", StageSpec("fake-llm", _FakeOptions, _fake_run, "a test stage"))
    raw = data.write_jsonl(tmp_path / "raw.jsonl", [data.nemotron_row(f"u{i}") for i in range(4)])
    cfg = {"input": str(raw), "steps": {
        "convert": {"stage": "convert"},
        "fake": {"stage": "fake-llm", "options": {"tag": "hello"}},
        "stats": {"stage": "stats", "options": {"plots": False}},
        "to_tasks": {"options": {"require_checklists": False}}}}
    summary = run_pipeline(cfg, tmp_path / "run")
    assert summary["cost_usd"] == 0.25
    tasks = [json.loads(x) for x in Path(summary["final"]).read_text().splitlines()]
    assert len(tasks) == 4 and tasks[0]["metadata"]["data_meta"]["fake"] == "hello"
    with pytest.raises(DataError, match="bad options"):
        run_pipeline({**cfg, "steps": {**cfg["steps"], "fake": {"stage": "fake-llm", "options": {"tga": 1}}}},
                     tmp_path / "run2")
    assert not (tmp_path / "run2" / "00_convert.jsonl").exists()  # validated before anything ran
    with pytest.raises(DataError, match="not available"):
        run_pipeline({"input": str(raw), "steps": {"x": {"stage": "no-such-stage"}}}, tmp_path / "run3")
    with pytest.raises(DataError, match="names no earlier step"):
        run_pipeline({"input": str(raw), "steps": {"convert": {"input": "later"}}}, tmp_path / "run4")


def test_shipped_configs_match_the_stages():
    """Every step of conf/data/*.yaml names a registered stage whose options model accepts its options."""
    import importlib.util

    from omegaconf import OmegaConf

    from cm2_env.data.pipeline import CONF_DIR, _step_list
    from cm2_env.data.stage import get_stage

    cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "cm2.yaml"))
    names = {stage for _, step in _step_list(cfg) for stage in [step["stage"]]}
    assert {"convert", "filter", "llm-filter", "split", "compress-cot", "select", "stats", "label",
            "derive-checks", "to-tasks"} == names
    for _, step in _step_list(cfg):
        module = STAGES._lazy[step["stage"]].rpartition(".")[0]
        if importlib.util.find_spec(module) is None:
            continue  # a stage not built here
        get_stage(step["stage"]).parse_options(step.get("options") or {})
    from cm2_env.data.select import REFERENCE_DROP_RATIOS

    assert get_stage("select").parse_options(cfg["steps"]["select"]["options"]).drop_ratios == REFERENCE_DROP_RATIOS


def test_shipped_config_lists_every_rule_stage_option():
    """Hydra's struct mode refuses an override of a key the YAML lacks: the rule stages list all theirs."""
    from omegaconf import OmegaConf

    from cm2_env.data.pipeline import CONF_DIR, _step_list
    from cm2_env.data.stage import get_stage

    cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "cm2.yaml"))
    for name, step in _step_list(cfg):
        if step["stage"] in ("convert", "filter", "split", "select", "stats", "to-tasks"):
            assert set(step["options"]) == set(get_stage(step["stage"]).options.model_fields), name
