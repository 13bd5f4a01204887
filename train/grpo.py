"""Launch VeRL GRPO on cm2 environments from the Hydra config ``conf/train/grpo.yaml``.

    python -m train.grpo actor_rollout_ref.model.path=/ckpt/sft data.train_files=data/verl/train.parquet \\
        data.val_files=data/verl/val.parquet
    python -m train.grpo --cfg job                       # print the composed config, no GPU
    python -m train.grpo -m actor_rollout_ref.actor.optim.lr=3e-6,1e-6     # multirun sweep
    python -m train.grpo cm2.dry_run=true ...            # compose + validate + build verl config objects, exit

The config is verl's own ``ppo_trainer`` with CM2's settings layered on top, handed to verl's ``main_ppo`` entry
point unchanged (Ray, workers, rollout servers, trainer loop are verl's). The absolute path of our agent-loop
registry (``train/verl/agent_loops.yaml``) is a config node registered in Hydra's ConfigStore when this module
is imported (``cm2_launcher/paths``, in ``conf/train/grpo.yaml``'s defaults), so it is part of the composed
config: ``--cfg job`` prints exactly what verl receives.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf, open_dict

AGENT_LOOPS_YAML = Path(__file__).resolve().parent / "verl" / "agent_loops.yaml"
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"

LAUNCHER_GROUP = "cm2_launcher"
"""Hydra config group (in-memory, ConfigStore) of the values a static YAML cannot hold."""


def register_launcher_configs() -> None:
    """Register ``cm2_launcher/paths``: the absolute path of our agent-loop registry file, as a Hydra-time
    default (``conf/train/grpo.yaml`` lists it as an optional default; a command-line override still wins)."""
    ConfigStore.instance().store(
        group=LAUNCHER_GROUP,
        name="paths",
        node={"actor_rollout_ref": {"rollout": {"agent": {"agent_loop_config_path": str(AGENT_LOOPS_YAML)}}}},
        package="_global_",
    )


register_launcher_configs()


def prepare_config(cfg: DictConfig) -> DictConfig:
    """Fallback for a config composed without importing this module (no ``cm2_launcher/paths`` node): fill the
    absolute path of our agent-loop registry file."""
    with open_dict(cfg):
        agent = cfg.actor_rollout_ref.rollout.agent
        if not agent.get("agent_loop_config_path"):
            agent.agent_loop_config_path = str(AGENT_LOOPS_YAML)
    return cfg


def build_verl_objects(cfg: DictConfig, *, with_model: bool = True) -> dict[str, Any]:
    """Build verl's typed config objects from the composed config (what verl's workers do at start-up).

    ``with_model`` also builds ``HFModelConfig``, which loads the tokenizer/config from ``model.path``.
    """
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    # the ref worker renames its log_prob_* keys before building its ActorConfig (verl engine_workers.py)
    ref_view = copy.deepcopy(cfg)
    with open_dict(ref_view):
        ref = ref_view.actor_rollout_ref.ref
        ref.ppo_mini_batch_size = ref_view.actor_rollout_ref.actor.ppo_mini_batch_size
        ref.ppo_micro_batch_size = ref.pop("log_prob_micro_batch_size", None)
        ref.ppo_micro_batch_size_per_gpu = ref.pop("log_prob_micro_batch_size_per_gpu", None)
        ref.use_dynamic_bsz = ref.pop("log_prob_use_dynamic_bsz", False)
        ref.ppo_max_token_len_per_gpu = ref.pop("log_prob_max_token_len_per_gpu", None)
    objs: dict[str, Any] = {
        "algorithm": omega_conf_to_dataclass(cfg.algorithm),
        "actor": omega_conf_to_dataclass(cfg.actor_rollout_ref.actor),
        "ref": omega_conf_to_dataclass(ref_view.actor_rollout_ref.ref),
        "rollout": omega_conf_to_dataclass(cfg.actor_rollout_ref.rollout),
    }
    if with_model:
        objs["model"] = omega_conf_to_dataclass(cfg.actor_rollout_ref.model)
    validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    objs["use_reference_policy"] = need_reference_policy(cfg)
    objs["use_critic"] = need_critic(cfg)
    return objs


ADVANTAGE_LEVELS = ("trajectory", "turn", "step")


def apply_advantage_level(cfg: DictConfig) -> DictConfig:
    """``cm2.advantage=turn|step`` selects the project trainer and the ``cm2`` advantage estimator (see
    ``train/verl/trainer.py``); ``trajectory`` leaves verl's GRPO path as configured."""
    level = cfg.cm2.get("advantage", "trajectory")
    if level not in ADVANTAGE_LEVELS:
        raise SystemExit(f"cm2.advantage must be one of {', '.join(ADVANTAGE_LEVELS)}, got {level!r}")
    if level == "trajectory":
        return cfg
    if not cfg.trainer.get("use_v1", True):
        raise SystemExit(f"cm2.advantage={level} needs verl's v1 trainer (trainer.use_v1=true)")
    if int(cfg.cm2.get("advantage_min_group", 5)) > int(cfg.actor_rollout_ref.rollout.n):
        raise SystemExit(f"cm2.advantage_min_group={cfg.cm2.advantage_min_group} > rollout.n="
                         f"{cfg.actor_rollout_ref.rollout.n}: every {level}-level advantage would be 0")
    from train.verl.trainer import ESTIMATOR, TRAINER_MODE

    with open_dict(cfg):
        cfg.algorithm.adv_estimator = ESTIMATOR
        cfg.trainer.v1.trainer_mode = TRAINER_MODE
    return cfg


def project_trainer(cfg: DictConfig) -> type | None:
    """The trainer class verl's registry gives for the config's mode, when it is the project's (None: verl's)."""
    if cfg.algorithm.adv_estimator != "cm2":
        return None
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn
    from verl.trainer.ppo.v1 import get_trainer_cls

    import train.verl.trainer  # noqa: F401 - registers the trainer and the estimator

    get_adv_estimator_fn("cm2")
    return get_trainer_cls(cfg.trainer.v1.trainer_mode)


def launch(cfg: DictConfig) -> None:
    """Hand the prepared config to verl's PPO entry point (Ray cluster, workers, trainer loop).

    With the project trainer, repeat what verl's ``main_ppo.main`` does before ``run_ppo`` (device set-up,
    config validation) and run our task runner, which registers the trainer inside its Ray actor."""
    if project_trainer(cfg) is None:
        from verl.trainer.main_ppo import main as verl_main

        verl_main(cfg)  # hydra.main passes a given config straight through to the wrapped function
        return
    from verl.trainer.main_ppo import run_ppo
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config
    from verl.utils.device import auto_set_device

    from train.verl.trainer import CM2TaskRunner

    auto_set_device(cfg)
    validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    run_ppo(cfg, task_runner_class=CM2TaskRunner)


@hydra.main(config_path=str(CONF_DIR), config_name="train/grpo", version_base=None)
def main(cfg: DictConfig) -> None:
    cfg = apply_advantage_level(prepare_config(cfg))
    if cfg.get("cm2", {}).get("dry_run", False):
        objs = build_verl_objects(cfg, with_model=cfg.actor_rollout_ref.model.path is not None)
        trainer = project_trainer(cfg)
        print(
            "cm2 dry run: config composed and validated;",
            f"advantage={cfg.cm2.advantage}",
            f"trainer={trainer.__qualname__ if trainer else 'verl:' + cfg.trainer.v1.trainer_mode}",
            f"adv_estimator={objs['algorithm'].adv_estimator}",
            f"norm_adv_by_std_in_grpo={objs['algorithm'].norm_adv_by_std_in_grpo}",
            f"n={objs['rollout'].n}",
            f"lr={objs['actor'].optim.lr}",
            f"kl={objs['actor'].kl_loss_type}:{objs['actor'].kl_loss_coef}",
            f"loss_agg_mode={objs['actor'].loss_agg_mode}",
            f"agent_loop={cfg.actor_rollout_ref.rollout.agent.default_agent_loop}",
        )
        return
    if cfg.actor_rollout_ref.model.path is None:
        raise SystemExit("set actor_rollout_ref.model.path=<SFT checkpoint> (see README: Training with VeRL)")
    launch(cfg)


if __name__ == "__main__":
    main()
