"""`python -m train.sft` (Hydra): composed config, batch arithmetic, GPU/CPU settings, dry runs and sweeps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]


def _sft(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "train.sft", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert (proc.returncode == 0) == ok, proc.stdout + proc.stderr
    return proc


def test_cfg_job_prints_cm2_recipe():
    cfg = yaml.safe_load(_sft("--cfg", "job").stdout)
    lf = cfg["llamafactory"]
    assert cfg["cm2"]["global_batch_size"] == 64
    assert (lf["finetuning_type"], lf["template"], lf["num_train_epochs"], lf["lr_scheduler_type"],
            lf["warmup_ratio"], lf["learning_rate"], lf["cutoff_len"]) == ("full", "qwen3", 2, "cosine", 0.1, 1e-6,
                                                                           12000)
    assert lf["mask_history"] is False
    assert not any(k.startswith(("new_special_tokens", "init_special_tokens")) for k in lf)


def test_gpu_dry_run_computes_batch_and_deepspeed(tmp_path):
    out = _sft("cm2.dry_run=true", "cm2.device=gpu", "cm2.nproc_per_node=8", "llamafactory.model_name_or_path=m",
               "llamafactory.per_device_train_batch_size=2", "llamafactory.learning_rate=1e-5",
               f"hydra.run.dir={tmp_path}").stdout
    args = yaml.safe_load((tmp_path / "llamafactory.yaml").read_text())
    assert args["gradient_accumulation_steps"] == 4  # 64 = 2 x 4 x 8
    assert args["bf16"] is True and args["learning_rate"] == 1e-5
    ds = json.loads(Path(args["deepspeed"]).read_text())
    assert ds["zero_optimization"]["stage"] == 3
    assert "global_batch=2x4x8=64" in out
    cmd = (tmp_path / "command.txt").read_text()
    assert "NPROC_PER_NODE=8" in cmd and "FORCE_TORCHRUN=1" in cmd and "llamafactory-cli train" in cmd
    assert not (tmp_path / "checkpoint").exists()  # dry run: nothing trained
    # two nodes: the accumulation halves
    _sft("cm2.dry_run=true", "cm2.device=gpu", "cm2.nproc_per_node=8", "cm2.nnodes=2", "cm2.node_rank=1",
         "llamafactory.model_name_or_path=m", f"hydra.run.dir={tmp_path / 'n2'}")
    args2 = yaml.safe_load((tmp_path / "n2" / "llamafactory.yaml").read_text())
    assert args2["gradient_accumulation_steps"] == 4 and "NNODES=2" in (tmp_path / "n2" / "command.txt").read_text()


def test_cpu_dry_run_and_errors(tmp_path):
    _sft("cm2.dry_run=true", "cm2.device=cpu", "llamafactory.model_name_or_path=m", f"hydra.run.dir={tmp_path}")
    args = yaml.safe_load((tmp_path / "llamafactory.yaml").read_text())
    assert args["gradient_accumulation_steps"] == 64 and args["bf16"] is False and args["fp16"] is False
    assert "deepspeed" not in args
    assert args["output_dir"] == str(tmp_path / "checkpoint")
    bad = _sft("cm2.dry_run=true", "cm2.device=gpu", "cm2.nproc_per_node=3", "llamafactory.model_name_or_path=m",
               f"hydra.run.dir={tmp_path / 'b'}", ok=False)
    assert "not a multiple" in bad.stderr
    bad = _sft("cm2.dry_run=true", "cm2.device=cpu", "llamafactory.bf16=true", "llamafactory.model_name_or_path=m",
               f"hydra.run.dir={tmp_path / 'c'}", ok=False)
    assert "bf16 needs a GPU" in bad.stderr
    bad = _sft("cm2.dry_run=true", f"hydra.run.dir={tmp_path / 'd'}", ok=False)
    assert "model_name_or_path" in bad.stderr


def test_multirun_sweep(tmp_path):
    _sft("-m", "cm2.dry_run=true", "cm2.device=cpu", "llamafactory.model_name_or_path=m",
         "llamafactory.learning_rate=1e-6,1e-5", f"hydra.sweep.dir={tmp_path}")
    lrs = sorted(yaml.safe_load((tmp_path / str(i) / "llamafactory.yaml").read_text())["learning_rate"]
                 for i in (0, 1))
    assert lrs == [1e-6, 1e-5]
