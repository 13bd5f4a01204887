"""The GRPO training config: Hydra composition over verl's ppo_trainer, verl's typed config objects,
the launcher's --cfg job / multirun / dry run, and the GRPO advantage with our algorithm config."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from train_fixtures import REPO, compose_grpo

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_compose_builds_verl_config_objects(tiny_lm):
    from verl.trainer.config import AlgoConfig
    from verl.workers.config import ActorConfig, HFModelConfig, RolloutConfig

    from train.grpo import AGENT_LOOPS_YAML, build_verl_objects, prepare_config

    model_dir, _, _ = tiny_lm
    cfg = prepare_config(compose_grpo([f"actor_rollout_ref.model.path={model_dir}"]))
    objs = build_verl_objects(cfg, with_model=True)

    algo, actor, ref, rollout, model = objs["algorithm"], objs["actor"], objs["ref"], objs["rollout"], objs["model"]
    assert isinstance(algo, AlgoConfig) and isinstance(actor, ActorConfig) and isinstance(ref, ActorConfig)
    assert isinstance(rollout, RolloutConfig) and isinstance(model, HFModelConfig)
    # CM2's final setting
    assert algo.adv_estimator == "grpo"
    assert algo.norm_adv_by_std_in_grpo is False
    assert algo.use_kl_in_reward is False
    assert rollout.n == 48
    assert actor.optim.lr == pytest.approx(3e-6)
    assert actor.use_kl_loss is True and actor.kl_loss_coef == pytest.approx(0.001)
    assert actor.kl_loss_type == "low_var_kl"
    assert actor.loss_agg_mode == "token-mean"
    assert rollout.multi_turn.enable is True
    assert rollout.agent.default_agent_loop == "cm2_env"
    assert objs["use_reference_policy"] is True  # KL loss needs the reference model
    assert objs["use_critic"] is False
    # the agent-loop registry file verl will read, and the class it names
    assert rollout.agent.agent_loop_config_path == str(AGENT_LOOPS_YAML)
    from omegaconf import OmegaConf
    import hydra

    entries = OmegaConf.load(AGENT_LOOPS_YAML)
    entry = {e.name: e for e in entries}["cm2_env"]
    cls = hydra.utils.get_class(entry._target_)
    from verl.experimental.agent_loop import AgentLoopBase

    assert issubclass(cls, AgentLoopBase)
    # the tokenizer verl loads is the model's
    assert model.tokenizer.eos_token == "<|im_end|>"


def test_reward_function_guard_is_loadable_and_refuses():
    from verl.trainer.ppo.reward import get_custom_reward_fn

    cfg = compose_grpo()
    fn = get_custom_reward_fn(cfg)
    assert fn is not None
    with pytest.raises(RuntimeError, match="agent loop"):
        fn(data_source="cm2/weather", solution_str="x", ground_truth="t", extra_info={"task_id": "t"})


def test_llm_roles_preset_builds_an_env_without_contacting_servers():
    import cm2_env

    from cm2_env.config import to_plain

    cfg = compose_grpo(["train/env@cm2.env_kwargs=llm_roles", "cm2.llm.judge.base_url=http://judge:9000/v1"])
    kwargs = to_plain(cfg.cm2.env_kwargs)
    assert kwargs["judge"]["name"] == "llm" and kwargs["judge"]["llm"]["base_url"] == "http://judge:9000/v1"
    assert kwargs["tool_backend"]["name"] == "llm"
    env = cm2_env.make(cfg.cm2.env_id, **kwargs)
    assert env.judge is not None
    env.close()
    # default preset: the registry's offline defaults
    assert to_plain(compose_grpo().cm2.env_kwargs) == {}


def _run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "train.grpo", *args], cwd=cwd or REPO, capture_output=True,
                          text=True, timeout=300)


def test_cli_prints_composed_config_without_gpu():
    from train.grpo import AGENT_LOOPS_YAML

    r = _run_cli("--cfg", "job")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "adv_estimator: grpo" in out and "norm_adv_by_std_in_grpo: false" in out
    assert "kl_loss_type: low_var_kl" in out and "loss_agg_mode: token-mean" in out
    assert "default_agent_loop: cm2_env" in out
    # the printed config is what verl receives: the registry path is in it, not filled in afterwards
    assert f"agent_loop_config_path: {AGENT_LOOPS_YAML}" in out
    assert "agent_loop_config_path: null" not in out
    # a command-line override still wins
    r = _run_cli("--cfg", "job", "actor_rollout_ref.rollout.agent.agent_loop_config_path=/elsewhere/loops.yaml")
    assert r.returncode == 0, r.stderr
    assert "agent_loop_config_path: /elsewhere/loops.yaml" in r.stdout


def test_reward_workers_sized_down():
    """Every cm2 sample carries its score, so verl's RewardLoopManager starts a single (idle) reward worker."""
    import dataclasses

    from verl.workers.config import RewardConfig

    from train.grpo import AGENT_LOOPS_YAML, prepare_config

    cfg = compose_grpo()
    assert "num_workers" in {f.name for f in dataclasses.fields(RewardConfig)}  # verl 0.9.1's name for it
    assert cfg.reward.num_workers == 1
    assert cfg.reward_model.num_workers is None  # verl's legacy key would override reward.num_workers
    # composed with train.grpo imported, the path needs no filling in; prepare_config leaves it as is
    assert cfg.actor_rollout_ref.rollout.agent.agent_loop_config_path == str(AGENT_LOOPS_YAML)
    assert prepare_config(cfg).actor_rollout_ref.rollout.agent.agent_loop_config_path == str(AGENT_LOOPS_YAML)


def test_cli_multirun_sweep_dry_run(tmp_path):
    r = _run_cli("-m", "cm2.dry_run=true", "actor_rollout_ref.actor.optim.lr=3e-6,1e-6",
                 f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if line.startswith("cm2 dry run")]
    assert len(lines) == 2
    assert "lr=3e-06" in lines[0] and "lr=1e-06" in lines[1]
    assert all("adv_estimator=grpo" in line and "n=48" in line for line in lines)


def test_cli_refuses_to_launch_without_a_model():
    r = _run_cli()
    assert r.returncode != 0
    assert "actor_rollout_ref.model.path" in (r.stderr + r.stdout)


def test_grpo_advantage_toy_group_uses_score_minus_group_mean():
    """verl's own GRPO advantage with our algorithm config: A = score - mean(group), no std division."""
    from verl.protocol import DataProto
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage
    from verl.trainer.ppo.ray_trainer import compute_advantage
    from verl.utils.config import omega_conf_to_dataclass

    cfg = compose_grpo()
    algo = omega_conf_to_dataclass(cfg.algorithm)
    scores = torch.tensor([1.0, 0.5, 0.25, 0.25, 0.0, 0.6])
    index = np.array(["a", "a", "a", "a", "b", "b"], dtype=object)
    lengths = [5, 3, 6, 2, 4, 6]
    mask = torch.zeros(6, 6)
    rewards = torch.zeros(6, 6)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
        rewards[i, n - 1] = scores[i]  # the agent loop puts the score on the last response token

    expected = torch.tensor([1.0 - 0.5, 0.5 - 0.5, 0.25 - 0.5, 0.25 - 0.5, 0.0 - 0.3, 0.6 - 0.3])
    adv, ret = compute_grpo_outcome_advantage(
        token_level_rewards=rewards, response_mask=mask, index=index,
        norm_adv_by_std_in_grpo=algo.norm_adv_by_std_in_grpo, config=algo,
    )
    assert torch.allclose(adv, expected[:, None] * mask, atol=1e-6)
    assert torch.allclose(ret, adv)

    # the same through verl's config-driven dispatcher (what the trainer calls)
    data = DataProto.from_dict(tensors={"token_level_rewards": rewards, "response_mask": mask},
                               non_tensors={"uid": index})
    out = compute_advantage(data, adv_estimator=algo.adv_estimator, gamma=algo.gamma, lam=algo.lam,
                            num_repeat=cfg.actor_rollout_ref.rollout.n,
                            norm_adv_by_std_in_grpo=algo.norm_adv_by_std_in_grpo, config=algo)
    assert torch.allclose(out.batch["advantages"], expected[:, None] * mask, atol=1e-6)

    # contrast: verl's default (std normalisation) gives a different advantage
    adv_std, _ = compute_grpo_outcome_advantage(token_level_rewards=rewards, response_mask=mask, index=index,
                                                norm_adv_by_std_in_grpo=True)
    assert not torch.allclose(adv_std, adv)


def test_turn_token_rewards():
    from train.verl.reward import turn_token_rewards

    t = turn_token_rewards([1.0, 0.5], [3, 7], 10)
    assert t.tolist() == [0, 0, 0, 1.0, 0, 0, 0, 0.5, 0, 0]
    assert turn_token_rewards([1.0], [12], 10, as_tensor=False) == [0.0] * 10
