"""The data pipeline: every ``cm2 data`` stage in one Hydra config, run in order into one run directory.

    python -m cm2_env.data.pipeline input=raw.jsonl                       # conf/data/cm2.yaml, all stages
    python -m cm2_env.data.pipeline --config-name rules input=raw.jsonl   # rule stages only (no LLM)
    python -m cm2_env.data.pipeline input=raw.jsonl steps.split.options.sft_size=100 steps.label.enabled=false
    python -m cm2_env.data.pipeline -m input=raw.jsonl steps.select.options.seed=1,2,3   # multirun
    cm2 data run cm2 input=raw.jsonl [OVERRIDES...]     # the same; CONFIG is a name in conf/data or a YAML path

The config's ``steps`` mapping lists the steps in order; each names a ``stage`` (any registered in
:data:`cm2_env.data.stage.STAGES`, the LLM stages included — the pipeline knows none of them specially), its
``options`` (the stage's options model validates them; an unknown key is an error), ``enabled``, and
optionally ``input``: a step name (its output) or ``STEP.OUTPUT`` (a named output from the step's report,
e.g. ``split.sft``); by default a step reads the output of the last enabled step before it that feeds the
chain (``stats`` only reads). Outputs are ``RUN_DIR/NN_STEP.jsonl`` with their report and rejected records
beside them; ``RUN_DIR/pipeline.json`` sums up the run.

Resuming: rerunning into the same run directory (``hydra.run.dir=...``) skips every step whose report shows
it finished with the same options and input (the input unchanged since), resumes a step cut short (each
stage skips the records it already wrote — an LLM stage pays for none again), and reruns afresh a step whose
options changed, and every step after it. ``force=[STEP,...]`` reruns steps afresh.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from .io import DataError, read_report, report_path_of, write_json_atomic
from .stage import StageSpec, get_stage

CONF_DIR = Path(__file__).resolve().parent.parent.parent / "conf" / "data"


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _step_list(cfg: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    steps = cfg.get("steps") or {}
    if not isinstance(steps, dict):
        raise DataError("steps must be a mapping of step name -> {stage, options, enabled, input}")
    out = []
    for name, step in steps.items():
        step = dict(step or {})
        unknown = set(step) - {"stage", "options", "enabled", "input", "out"}
        if unknown:
            raise DataError(f"step {name}: unknown key(s) {sorted(unknown)} "
                            f"(known: stage, options, enabled, input, out)")
        step.setdefault("stage", str(name).replace("_", "-"))
        out.append((str(name), step))
    return out


def run_pipeline(cfg: dict[str, Any], run_dir: str | Path) -> dict[str, Any]:
    """Run the configured steps into ``run_dir``; returns the summary written to ``pipeline.json``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    inp = cfg.get("input")
    if not inp:
        raise DataError("no input: set input=PATH (a file, directory or glob the convert stage reads)")
    force = set(cfg.get("force") or [])
    resume = bool(cfg.get("resume", True))
    steps = _step_list(cfg)
    known = {n for n, _ in steps}
    unknown_force = force - known
    if unknown_force:
        raise DataError(f"force: unknown step(s) {sorted(unknown_force)}")
    # validate every enabled step up front: a typo in step 9 must not surface after paid step 3
    specs: dict[str, StageSpec] = {}
    opts: dict[str, Any] = {}
    for i, (name, step) in enumerate(steps):
        if not step.get("enabled", True):
            continue
        try:
            spec = get_stage(str(step["stage"]))
        except Exception as e:  # noqa: BLE001 - an unknown or not importable stage
            raise DataError(f"step {name}: stage {step['stage']!r} is not available "
                            f"({type(e).__name__}: {e})") from None
        specs[name] = spec
        opts[name] = spec.parse_options(step.get("options") or {})

    outputs: dict[str, dict[str, str]] = {}  # step -> {"kept": path, ...}
    current: str = str(inp)                   # what the next chaining step reads
    summary: dict[str, Any] = {"input": str(inp), "run_dir": str(run_dir), "steps": []}
    fresh_from_here = not resume
    t0 = time.monotonic()
    for i, (name, step) in enumerate(steps):
        entry: dict[str, Any] = {"step": name, "stage": step["stage"]}
        if not step.get("enabled", True):
            entry["status"] = "disabled"
            outputs[name] = {"kept": current}
            summary["steps"].append(entry)
            continue
        spec, options = specs[name], opts[name]
        src = step.get("input")
        if src:
            ref, _, key = str(src).partition(".")
            if ref not in outputs:
                raise DataError(f"step {name}: input {src!r} names no earlier step")
            key = key or "kept"
            if key not in outputs[ref]:
                raise DataError(f"step {name}: step {ref} has no output {key!r} (it has {sorted(outputs[ref])})")
            step_in = outputs[ref][key]
        else:
            step_in = current
        out = Path(step["out"]) if step.get("out") else run_dir / f"{i:02d}_{name}.jsonl"
        options_json = _plain(options.model_dump(mode="json"))
        prev = read_report(out)
        fresh = fresh_from_here or name in force
        status = "ran"
        if prev is not None and not fresh:
            same = _plain(prev.get("options")) == options_json and prev.get("input") in (None, str(step_in))
            newer = _mtime(report_path_of(out)) >= _mtime(step_in)
            if same and newer and prev.get("complete"):
                status = "done before"
            elif not same:
                fresh = True
            elif same:
                status = "resumed"
        if fresh and (prev is not None or out.exists()):
            status = "rerun afresh"
            fresh_from_here = True
        entry.update({"input": str(step_in), "output": str(out), "status": status})
        print(f"[data] {i:02d} {name} ({spec.name}): {status}", flush=True)
        if status == "done before":
            report = prev
        else:
            report = spec(step_in, out, options, resume=not fresh)
        assert report is not None
        outs = dict(report.get("outputs") or {})
        outs.setdefault("kept", str(out))
        outputs[name] = outs
        entry.update({"kept": report.get("kept"), "rejected": report.get("rejected"),
                      "report": str(report_path_of(out)), "outputs": outs})
        if report.get("cost_usd") is not None:
            entry["cost_usd"] = report["cost_usd"]
        print(f"[data]    kept {report.get('kept')}, rejected {report.get('rejected')} -> {out}", flush=True)
        summary["steps"].append(entry)
        if spec.chain:
            current = outs["kept"]
    summary["final"] = current
    summary["seconds"] = round(time.monotonic() - t0, 3)
    costs = [s["cost_usd"] for s in summary["steps"] if isinstance(s.get("cost_usd"), (int, float))]
    if costs:
        summary["cost_usd"] = sum(costs)
    write_json_atomic(run_dir / "pipeline.json", summary)
    print(f"[data] final output: {current}  (summary: {run_dir / 'pipeline.json'})", flush=True)
    return summary


def _mtime(path: str | Path) -> float:
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return 0.0


# ------------------------------------------------------------------------------------------- Hydra

_FAILED: list[str] = []


def _task(cfg: Any) -> None:
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    plain = OmegaConf.to_container(cfg, resolve=True)
    run_dir = plain.get("run_dir") or HydraConfig.get().runtime.output_dir
    try:
        run_pipeline(plain, run_dir)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        _FAILED.append(str(e))


def hydra_main(argv: list[str] | None = None, config: str | None = None) -> int:
    """Run the Hydra app on ``argv``; ``config`` is a config name in conf/data or a YAML file's path."""
    import hydra

    config_dir, config_name = str(CONF_DIR), "cm2"
    if config:
        p = Path(config)
        if p.suffix in (".yaml", ".yml") and p.is_file():
            config_dir, config_name = str(p.resolve().parent), p.stem
        else:
            config_name = config
    main = hydra.main(version_base="1.3", config_path=config_dir, config_name=config_name)(_task)
    _FAILED.clear()
    saved = sys.argv
    if argv is not None:
        sys.argv = [saved[0] if saved else "cm2_env.data.pipeline", *argv]
    try:
        main()
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 1
    finally:
        sys.argv = saved
    return 1 if _FAILED else 0


def add_parser(p: argparse.ArgumentParser) -> None:
    """``cm2 data run CONFIG [-m] [OVERRIDES...]``."""
    p.description = ("run the configured data pipeline (Hydra): CONFIG is a config name in conf/data "
                     "(cm2: every stage; rules: the rule stages only) or a YAML file")
    p.add_argument("config", help="config name in conf/data (cm2, rules) or path to a YAML config")
    p.add_argument("-m", "--multirun", action="store_true", help="one run per combination (Hydra's -m)")
    p.add_argument("overrides", nargs=argparse.REMAINDER, help="Hydra overrides, e.g. input=raw.jsonl "
                   "steps.split.options.sft_size=100 steps.label.enabled=false")


def run(args: argparse.Namespace) -> int:
    return hydra_main((["-m"] if args.multirun else []) + list(args.overrides), config=args.config)


if __name__ == "__main__":
    sys.exit(hydra_main())
