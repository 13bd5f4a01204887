"""Helpers of the SFT-venv tests: compose conf/train/sft.yaml, LLaMA-Factory's own preprocessing, the RL
agent loop's token stream (in the main venv), a tiny Qwen3 base model."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
# The RL side of the drift test needs verl, which lives in the main venv (its transformers pin clashes with
# LLaMA-Factory's): scripts/test.sh builds it first. MAIN_VENV points elsewhere when needed.
MAIN_PYTHON = REPO / (os.environ.get("MAIN_VENV") or os.environ.get("VENV") or ".venv-test") / "bin" / "python"


def compose_sft(overrides: list[str]):
    """conf/train/sft.yaml composed through Hydra's compose API (cm2.run_dir must be given: no Hydra run)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        return compose(config_name="train/sft", overrides=overrides)


def lf_encode(args: dict) -> list[dict]:
    """LLaMA-Factory's own SFT preprocessing of the configured dataset: [{input_ids, labels}] per sample."""
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    os.environ.setdefault("DISABLE_VERSION_CHECK", "1")
    model_args, data_args, training_args, _finetuning_args, _ = get_train_args(dict(args))
    tm = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(tm["tokenizer"], data_args)
    ds = get_dataset(template, model_args, data_args, training_args, stage="sft", **tm)["train_dataset"]
    return [{"input_ids": list(r["input_ids"]), "labels": list(r["labels"])} for r in ds]


def rl_render(model_dir: Path, convs: list, tmp: Path) -> dict:
    """The RL agent loop's token stream of each conversation (tests/train/sft/rl_render.py, main venv)."""
    assert MAIN_PYTHON.exists(), f"{MAIN_PYTHON} missing: build the main venv first (scripts/test.sh) or set MAIN_VENV"
    src, dst = tmp / "rl_in.json", tmp / "rl_out.json"
    src.write_text(json.dumps([{"id": c.id, "messages": c.messages, "tools": c.tools} for c in convs]))
    proc = subprocess.run([str(MAIN_PYTHON), str(Path(__file__).with_name("rl_render.py")), str(model_dir),
                           str(src), str(dst)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(dst.read_text())


def _run(cmd: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def run_sft_chain(root: Path, *, samples: int = 12, steps: int = 3) -> dict:
    import sys
    import time

    from train.sft.testing import build_tiny_qwen3

    py = sys.executable
    times = {}
    t0 = time.monotonic()
    base = build_tiny_qwen3(root / "base", tied=False)
    init = _run([py, "-m", "train.sft.init_tokens", "--model", str(base), "--out", str(root / "init")], REPO)
    times["init_tokens"] = time.monotonic() - t0
    t0 = time.monotonic()
    cm2 = Path(py).with_name("cm2")
    export = _run([str(cm2), "data", "to-sft", "--in", "starter", "--out", str(root / "data"), "--tokenizer",
                   str(root / "init"), "--limit", str(samples), "--cutoff-len", "4096"], REPO)
    times["export"] = time.monotonic() - t0
    t0 = time.monotonic()
    train = _run([py, "-m", "train.sft", f"llamafactory.model_name_or_path={root / 'init'}",
                  f"llamafactory.dataset_dir={root / 'data'}", f"hydra.run.dir={root / 'run'}",
                  "cm2.global_batch_size=2", f"+llamafactory.max_steps={steps}", "llamafactory.cutoff_len=4096",
                  "llamafactory.learning_rate=1e-3", "llamafactory.warmup_ratio=0", "llamafactory.save_strategy=no",
                  "llamafactory.preprocessing_num_workers=1"], REPO)
    times["sft"] = time.monotonic() - t0
    return {"base": base, "init": root / "init", "data": root / "data", "run": root / "run",
            "checkpoint": root / "run" / "checkpoint", "logs": {"init": init.stdout, "export": export.stdout,
                                                                 "sft": train.stdout + train.stderr},
            "times": times}
