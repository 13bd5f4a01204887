"""Launch LLaMA-Factory SFT from the Hydra config ``conf/train/sft.yaml`` (CM2's cold-start recipe).

    python -m train.sft llamafactory.model_name_or_path=/ckpt/qwen3-8b-inittag llamafactory.dataset_dir=data/sft
    python -m train.sft --cfg job                                   # print the composed config
    python -m train.sft cm2.dry_run=true ...                        # write llamafactory.yaml, print the command
    python -m train.sft -m llamafactory.learning_rate=1e-6,1e-5     # multirun sweep

The ``llamafactory`` node is LLaMA-Factory's training YAML; this launcher fills what depends on the machine —
``gradient_accumulation_steps`` = ``cm2.global_batch_size`` / (``per_device_train_batch_size`` × world size),
``bf16`` and ``deepspeed`` (ZeRO-3) on GPU, off on CPU — writes it to ``<run dir>/llamafactory.yaml`` and runs
``llamafactory-cli train`` on it (with ``NPROC_PER_NODE``/``NNODES``/``NODE_RANK``/``MASTER_*`` set, so that
LLaMA-Factory starts ``torchrun`` itself for several GPUs or nodes). It needs the SFT venv
(``scripts/install_sft_env.sh``) only to train: composing, ``--cfg job`` and dry runs work anywhere.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import hydra
import yaml
from omegaconf import DictConfig, OmegaConf

from . import REPO_ROOT

CONF_DIR = REPO_ROOT / "conf"


def device_count() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:  # pragma: no cover - torch is in every venv of this project
        return 0


def resolve_device(cm2: Any) -> tuple[str, int]:
    """(device, GPUs per node) from ``cm2.device`` / ``cm2.nproc_per_node``."""
    device = str(cm2.device)
    n = device_count()
    if device == "auto":
        device = "gpu" if n > 0 else "cpu"
    if device not in ("gpu", "cpu"):
        raise SystemExit(f"cm2.device must be auto, gpu or cpu, got {device!r}")
    if device == "cpu":
        return device, 1
    nproc = n if str(cm2.nproc_per_node) == "auto" else int(cm2.nproc_per_node)
    if nproc < 1:
        raise SystemExit("cm2.device=gpu but no CUDA device is visible (set cm2.nproc_per_node or use cpu)")
    return device, nproc


def build_llamafactory_args(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """LLaMA-Factory's YAML (as a dict) and the launch facts (device, world size, batch arithmetic)."""
    cm2 = cfg.cm2
    args = OmegaConf.to_container(cfg.llamafactory, resolve=True)
    device, nproc = resolve_device(cm2)
    nnodes = int(cm2.nnodes) if device == "gpu" else 1
    world = nproc * nnodes
    per_device = int(args["per_device_train_batch_size"])
    global_bs = int(cm2.global_batch_size)
    if global_bs % (per_device * world):
        raise SystemExit(f"cm2.global_batch_size={global_bs} is not a multiple of per_device_train_batch_size "
                         f"({per_device}) x world size ({world})")
    accum = global_bs // (per_device * world)
    if args.get("gradient_accumulation_steps") not in (None, accum):
        raise SystemExit(f"llamafactory.gradient_accumulation_steps={args['gradient_accumulation_steps']} "
                         f"contradicts cm2.global_batch_size={global_bs} (would be {accum}); set only the latter")
    args["gradient_accumulation_steps"] = accum
    if device == "gpu":
        if args.get("bf16") is None:
            args["bf16"] = True
        if args.get("deepspeed") is None and cm2.deepspeed_config:
            ds = Path(str(cm2.deepspeed_config))
            args["deepspeed"] = str(ds if ds.is_absolute() else REPO_ROOT / ds)
    else:
        if args.get("bf16"):
            raise SystemExit("bf16 needs a GPU here: LLaMA-Factory on CPU trains in fp32 (drop llamafactory.bf16)")
        args["bf16"] = False
        args["fp16"] = False
        if args.get("deepspeed"):
            raise SystemExit("DeepSpeed needs a GPU (drop llamafactory.deepspeed on cpu)")
        args.pop("deepspeed", None)
    if not args.get("model_name_or_path"):
        raise SystemExit("set llamafactory.model_name_or_path=<token-initialised checkpoint> "
                         "(python -m train.sft.init_tokens, see README)")
    # LLaMA-Factory runs in the run directory: make local paths absolute (relative to where this was started)
    for key in ("dataset_dir", "output_dir", "model_name_or_path"):
        p = Path(str(args[key])).expanduser()
        if key != "model_name_or_path" or p.exists():
            args[key] = str(p.resolve())
    args = {k: v for k, v in args.items() if v is not None}
    launch = {"device": device, "nproc_per_node": nproc, "nnodes": nnodes, "world_size": world,
              "per_device_train_batch_size": per_device, "gradient_accumulation_steps": accum,
              "global_batch_size": per_device * accum * world}
    return args, launch


def command(yaml_path: Path, launch: dict[str, Any], cm2: Any) -> tuple[list[str], dict[str, str]]:
    cli = Path(sys.executable).with_name("llamafactory-cli")
    exe = str(cli) if cli.exists() else (shutil.which("llamafactory-cli") or "llamafactory-cli")
    env = {"DISABLE_VERSION_CHECK": "1"}
    if launch["device"] == "gpu":
        env.update(NPROC_PER_NODE=str(launch["nproc_per_node"]), NNODES=str(launch["nnodes"]),
                   NODE_RANK=str(cm2.node_rank), MASTER_ADDR=str(cm2.master_addr))
        if cm2.master_port:
            env["MASTER_PORT"] = str(cm2.master_port)
        if launch["world_size"] > 1:
            env["FORCE_TORCHRUN"] = "1"
    else:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return [exe, "train", str(yaml_path)], env


@hydra.main(config_path=str(CONF_DIR), config_name="train/sft", version_base=None)
def main(cfg: DictConfig) -> None:
    args, launch = build_llamafactory_args(cfg)
    run_dir = Path(str(cfg.cm2.run_dir))
    run_dir.mkdir(parents=True, exist_ok=True)
    yaml_path = run_dir / "llamafactory.yaml"
    yaml_path.write_text(yaml.safe_dump(args, sort_keys=False))
    cmd, env = command(yaml_path, launch, cfg.cm2)
    line = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + shlex.join(cmd)
    (run_dir / "command.txt").write_text(line + "\n")
    print(f"cm2 sft: {launch['device']} world_size={launch['world_size']} global_batch="
          f"{launch['per_device_train_batch_size']}x{launch['gradient_accumulation_steps']}x{launch['world_size']}"
          f"={launch['global_batch_size']} lr={args['learning_rate']} -> {yaml_path}")
    print(line)
    if cfg.cm2.dry_run:
        return
    proc = subprocess.run(cmd, env={**os.environ, **env}, cwd=str(run_dir))
    if proc.returncode:
        raise SystemExit(proc.returncode)


if __name__ == "__main__":
    main()
