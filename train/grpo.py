"""Launch VeRL GRPO on cm2 environments from the Hydra config ``conf/train/grpo.yaml``.

    python -m train.grpo actor_rollout_ref.model.path=/ckpt/sft data.train_files=data/verl/train.parquet \\
        data.val_files=data/verl/val.parquet
    python -m train.grpo --cfg job                       # print the composed config, no GPU
    python -m train.grpo -m actor_rollout_ref.actor.optim.lr=3e-6,1e-6     # multirun sweep
    python -m train.grpo cm2.dry_run=true ...            # compose + validate + build verl config objects, exit

The config is verl's own ``ppo_trainer`` with CM2's settings layered on top; after composition the launcher
points verl at our agent-loop registry (``train/verl/agent_loops.yaml``), then hands the config to verl's
``main_ppo`` entry point unchanged (Ray, workers, rollout servers, trainer loop are verl's).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

AGENT_LOOPS_YAML = Path(__file__).resolve().parent / "verl" / "agent_loops.yaml"
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def prepare_config(cfg: DictConfig) -> DictConfig:
    """Fill what a static YAML cannot: the absolute path of our agent-loop registry file."""
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


def launch(cfg: DictConfig) -> None:
    """Hand the prepared config to verl's PPO entry point (Ray cluster, workers, trainer loop)."""
    from verl.trainer.main_ppo import main as verl_main

    # hydra.main passes a given config straight through to the wrapped function
    verl_main(cfg)


@hydra.main(config_path=str(CONF_DIR), config_name="train/grpo", version_base=None)
def main(cfg: DictConfig) -> None:
    cfg = prepare_config(cfg)
    if cfg.get("cm2", {}).get("dry_run", False):
        objs = build_verl_objects(cfg, with_model=cfg.actor_rollout_ref.model.path is not None)
        print(
            "cm2 dry run: config composed and validated;",
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
