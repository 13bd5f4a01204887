"""Evaluation sweeps with Hydra: one run job per combination of overrides, then a sweep summary (CSV, Markdown).

    python -m cm2_env.sweep                                    # one job: the starter suite, reference agent
    python -m cm2_env.sweep -m agent=reference,perturbed env.kwargs.reward_level=turn,trajectory
    python -m cm2_env.sweep -m agent=perturbed agent.args.fault_rate=0.1,0.3 env.kwargs.reward_level=turn,trajectory
    python -m cm2_env.sweep -m agent=perturbed agent.args.fault_rate=0.1,0.3 hydra.sweep.dir=multirun/eval/faults
    .venv-bfcl/bin/python -m cm2_env.sweep -m benchmark=bfcl bfcl.category=base,miss_func env.kwargs.limit=20 \
        agent=reference,perturbed

The config is composed from ``conf/eval/`` (``config.yaml`` and the groups ``env``, ``agent``, ``benchmark``);
the override names are:

=============================  ==========================================================================
``agent=NAME``                 ``reference`` | ``perturbed`` | ``openai`` (``conf/eval/agent/NAME.yaml``)
``agent.args.KEY=V``           agent kwargs (``fault_rate``, ``seed``, ``faults`` for perturbed; add new
                               ones with ``+agent.args.KEY=V``)
``env.id=ID``                  registered env id (default ``cm2/ToolTask-v0``)
``env.kwargs.KEY=V``           env kwargs: ``reward_level`` (turn | trajectory), ``early_stop``; any other
                               ToolTaskEnv argument with ``+env.kwargs.KEY=V``; null means "the default"
``benchmark=bfcl``             BFCL v4 multi-turn env ids; ``bfcl.category=base,miss_func,...``,
                               ``env.kwargs.limit=N`` (run it with the BFCL venv's python)
``episodes=N``                 episode slots (default: one per task)
``group_size=G``               rollouts per slot (GRPO group)
``concurrency=C``, ``seed=S``  as ``cm2 run``
``tasks=SELECTOR``             task selector (``domain:weather``; quote commas: ``tasks="'a-*,b-001'"``)
``tasks_file=FILE|SUITE``      replace the env's tasks
``out=FILE``                   a job's run file (default ``<job dir>/episodes.jsonl``)
``quiet=false``                show each job's progress bar
=============================  ==========================================================================

Every job writes its episodes to ``<sweep dir>/<overrides>/episodes.jsonl`` and a ``result.json`` beside it;
rerunning the same sweep into the same ``hydra.sweep.dir`` resumes every job (the run files are resumable).
When the sweep ends, ``<sweep dir>/sweep_summary.csv`` and ``sweep_summary.md`` list every job (overrides,
episodes, mean score with its 95% CI, official metric, run file); ``cm2 view <sweep dir>/sweep_summary.csv``
opens all the runs as one comparison.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf" / "eval")
RESULT_FILE = "result.json"
SUMMARY_CSV = "sweep_summary.csv"
SUMMARY_MD = "sweep_summary.md"

_FAILED: list[str] = []
"""Jobs of this process that could not run (their error is in their result.json)."""


def _bfcl_env_id(category: str) -> str:
    from .benchmarks.bfcl.cli import ENV_IDS

    cat = str(category).removeprefix("multi_turn_")
    if cat not in ENV_IDS:
        raise ValueError(f"unknown BFCL category {category!r}; choose from {', '.join(ENV_IDS)}")
    return ENV_IDS[cat]


def _register_resolvers() -> None:
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("bfcl_env_id"):
        OmegaConf.register_new_resolver("bfcl_env_id", _bfcl_env_id)


# -------------------------------------------------------------------------------------------------- job


def job_from_config(cfg: Any) -> Any:
    """The :class:`RunJob` a composed config describes."""
    from omegaconf import OmegaConf

    from .runjob import RunJob

    env_kwargs = {k: v for k, v in (OmegaConf.to_container(cfg.env.kwargs, resolve=True) or {}).items()
                  if v is not None}
    if cfg.get("tasks_file"):
        env_kwargs["tasks"] = str(cfg.tasks_file)
    if cfg.get("tasks"):
        env_kwargs["task_selector"] = str(cfg.tasks)
    agent_kwargs = OmegaConf.to_container(cfg.agent.args, resolve=True) or {}
    return RunJob(env_id=str(cfg.env.id), out=Path(str(cfg.out)), agent=str(cfg.agent.name),
                  env_kwargs=env_kwargs, agent_kwargs=dict(agent_kwargs), episodes=cfg.get("episodes"),
                  group_size=int(cfg.group_size), concurrency=int(cfg.concurrency), seed=int(cfg.seed),
                  quiet=bool(cfg.quiet))


def _overrides() -> list[str]:
    try:
        from hydra.core.hydra_config import HydraConfig

        return [str(o) for o in HydraConfig.get().overrides.task]
    except Exception:
        return []


def _job_num() -> int | None:
    try:
        from hydra.core.hydra_config import HydraConfig

        return int(HydraConfig.get().job.num)
    except Exception:
        return None


def run_job(cfg: Any) -> dict[str, Any]:
    """Run one job and write its ``result.json`` beside its run file; returns the result."""
    from .viewer.model import run_summary

    job = job_from_config(cfg)
    overrides = [o.replace("\\:", ":") for o in _overrides()
                 if o.split("=", 1)[0].lstrip("+~") not in ("out", "quiet")]
    result: dict[str, Any] = {
        "label": " ".join(overrides) or "(defaults)", "overrides": overrides, "job": _job_num(),
        "env": job.env_id,
        "env_kwargs": job.env_kwargs, "agent": job.agent, "agent_kwargs": job.agent_kwargs,
        "episodes_planned": job.episodes, "group_size": job.group_size, "seed": job.seed, "out": str(job.out),
    }
    got = job.run()
    sm = run_summary(got.records)
    official = {}
    for name, e in sm["evaluations"].items():
        if e.get("metric"):
            official[e["label"]] = e["summary"].get(e["metric"])
    result.update({
        "episodes": len(got.records), "missing": got.missing, "error": got.error,
        "mean_score": sm["score"]["mean"], "ci95": sm["score"]["ci95"], "perfect": sm["perfect"],
        "mean_return": (sum(r.return_ for r in got.records) / len(got.records)) if got.records else None,
        "unscored": sm["unscored"], "official": official,
        "verdicts": {k: sm["verdicts"][k] for k in ("passed", "failed", "unjudged", "error", "gated")},
    })
    job.out.parent.mkdir(parents=True, exist_ok=True)
    (job.out.parent / RESULT_FILE).write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    mean = "n/a" if result["mean_score"] is None else f"{result['mean_score']:.4f}"
    extra = "".join(f", {k} {v:.4f}" for k, v in official.items() if isinstance(v, (int, float)))
    print(f"[sweep] {result['label']}: {len(got.records)} episode(s), mean score {mean}{extra} -> {job.out}",
          flush=True)
    if got.error or not got.ok:
        _FAILED.append(result["label"])
        print(f"[sweep] {result['label']}: {got.error or 'not every episode ran'}", file=sys.stderr, flush=True)
    return result


# ---------------------------------------------------------------------------------------------- summary


COLUMNS = ["label", "overrides", "env", "agent", "agent_kwargs", "env_kwargs", "episodes", "mean_score",
           "ci95_low", "ci95_high", "perfect", "mean_return", "passed", "failed", "unjudged", "gated", "missing",
           "error"]


def collect_results(sweep_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every job's ``result.json`` under the sweep directory, in job-directory order."""
    root = Path(sweep_dir)
    out = []
    for p in sorted(root.rglob(RESULT_FILE)):
        if ".hydra" in p.parts:
            continue
        try:
            res = json.loads(p.read_text(encoding="utf-8"))
        except ValueError:
            continue
        res["_dir"] = p.parent
        out.append(res)
    out.sort(key=lambda r: (r.get("job") is None, r.get("job") or 0, str(r["_dir"])))
    return out


def _labels(results: list[dict[str, Any]]) -> list[str]:
    """Each job's overrides less those every job shares (what the sweep varied)."""
    lists = [list(r.get("overrides") or []) for r in results]
    common = set.intersection(*(set(x) for x in lists)) if len(lists) > 1 else set()
    return [" ".join(o for o in x if o not in common) or " ".join(x) or "(defaults)" for x in lists]


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def write_sweep_summary(sweep_dir: str | os.PathLike) -> tuple[Path, Path] | None:
    """``sweep_summary.csv`` and ``.md`` in ``sweep_dir`` from its jobs' results (None when there is none).
    Paths in the ``out`` column are relative to the sweep directory (the folder can be moved)."""
    root = Path(sweep_dir)
    results = collect_results(root)
    if not results:
        return None
    official = sorted({k for r in results for k in (r.get("official") or {})})
    columns = COLUMNS + official + ["out"]
    rows = []
    for r, label in zip(results, _labels(results)):
        ci = r.get("ci95") or [None, None]
        v = r.get("verdicts") or {}
        out = Path(r["out"])
        if not out.is_absolute():
            out = Path.cwd() / out
        try:
            out_s = os.path.relpath(out, root.resolve())
        except ValueError:
            out_s = str(out)
        row = {"label": label, "overrides": " ".join(r.get("overrides") or []), "env": r.get("env"), "agent": r.get("agent"),
               "agent_kwargs": r.get("agent_kwargs"), "env_kwargs": r.get("env_kwargs"),
               "episodes": r.get("episodes"), "mean_score": r.get("mean_score"), "ci95_low": ci[0],
               "ci95_high": ci[1], "perfect": r.get("perfect"), "mean_return": r.get("mean_return"), "passed": v.get("passed"),
               "failed": v.get("failed"), "unjudged": v.get("unjudged"), "gated": v.get("gated"),
               "missing": r.get("missing"), "error": r.get("error"),
               **{k: (r.get("official") or {}).get(k) for k in official}, "out": out_s}
        rows.append({k: _fmt(row.get(k)) for k in columns})
    csv_path, md_path = root / SUMMARY_CSV, root / SUMMARY_MD
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)

    def cell(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    md = [f"# Sweep summary: {root}", "", f"{len(rows)} job(s); open them all with `cm2 view {csv_path}`.", "",
          "| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    md += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows]
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")
    return csv_path, md_path


try:
    from hydra.experimental.callback import Callback as _Callback
except ImportError:  # pragma: no cover - hydra-core is a dependency
    _Callback = object  # type: ignore[assignment,misc]


class SweepSummaryCallback(_Callback):  # type: ignore[misc,valid-type]
    """Hydra callback: after a multirun, write the sweep summary into the sweep directory."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        got = write_sweep_summary(Path(str(config.hydra.sweep.dir)))
        if got:
            print(f"[sweep] summary: {got[0]} and {got[1]}; open it with: cm2 view {got[0]}", flush=True)


# ------------------------------------------------------------------------------------------------ entry


def _task(cfg: Any) -> float | None:
    return run_job(cfg).get("mean_score")


def hydra_main(argv: list[str] | None = None) -> int:
    """Run Hydra on ``argv`` (default: ``sys.argv[1:]``); 1 when a job could not run."""
    import hydra

    _register_resolvers()
    main = hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")(_task)
    _FAILED.clear()
    saved = sys.argv
    if argv is not None:
        sys.argv = [saved[0] if saved else "cm2_env.sweep", *argv]
    try:
        main()
    except SystemExit as e:  # Hydra exits on a bad override / config error (after printing it)
        return int(e.code or 0) if not isinstance(e.code, str) else 1
    finally:
        sys.argv = saved
    return 1 if _FAILED else 0


def add_parser(p: argparse.ArgumentParser) -> None:
    """``cm2 sweep [-m] [OVERRIDES...]``: the Hydra command line, passed through."""
    p.description = "Hydra evaluation sweep: one cm2 run per combination of overrides (see cm2_env/sweep.py)"
    p.add_argument("-m", "--multirun", action="store_true", help="one job per combination (Hydra's -m)")
    p.add_argument("overrides", nargs=argparse.REMAINDER,
                   help="Hydra overrides (and flags), e.g. agent=reference,perturbed env.kwargs.reward_level=turn,trajectory")


def run(args: argparse.Namespace) -> int:
    return hydra_main((["-m"] if args.multirun else []) + list(args.overrides))


if __name__ == "__main__":
    sys.exit(hydra_main())
