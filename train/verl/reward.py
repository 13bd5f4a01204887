"""Reward wiring between cm2 episodes and verl.

How the checklist score reaches verl (verl 0.9.1, checked in its source):

- ``CM2AgentLoop`` returns ``AgentLoopOutput.reward_score`` = the env's trajectory score. Because it is not
  ``None``, verl's agent-loop worker skips its reward loop (``AgentLoopWorker._compute_score`` only runs for
  ``reward_score is None``) and writes the score on the last response token of ``rm_scores``
  (v1 trainer: ``AgentLoopOutput.as_dict``; legacy trainer: ``AgentLoopWorker._postprocess``).
- The trainer uses ``rm_scores`` as ``token_level_scores``; with ``use_kl_in_reward=false`` they are the
  ``token_level_rewards`` fed to ``compute_grpo_outcome_advantage`` (score − group mean; no std division with
  ``norm_adv_by_std_in_grpo=false``). No reward function is called on this path.
- ``extra_fields["reward_extra_info"]`` (flat scalars: ``cm2_score``, item counts, early stop, ...) is what
  verl logs in validation metrics and what DAPO-style group filtering can select
  (``algorithm.filter_groups.metric``).
- ``extra_fields`` also carries what the rollout server reported (``global_steps``, ``min_global_steps``,
  ``max_global_steps``, as verl's own loops forward them): the v1 worker (``AgentLoopWorkerTQ``) tags each
  trajectory with min/max and the v1 trainer casts them to ``int`` in its metrics.
- Every sample carries its score, so ``reward.num_workers`` is 1 in ``conf/train/grpo.yaml`` (verl starts that
  many idle ``RewardLoopWorker`` actors; 1 keeps this guard reachable, 0 would fail inside verl instead).
- Per-turn scores travel in ``extra_fields["turn_scores"]`` with ``extra_fields["turn_token_ends"]`` (the
  response index of each judged turn's last policy token); :func:`turn_token_rewards` turns them into a
  token-level reward tensor for a turn-level estimator.

:func:`compute_score` is configured as verl's ``reward.custom_reward_function`` only as a guard: it would be
called only for a sample without ``reward_score``, which the cm2 agent loop never produces, so it raises
instead of inventing a reward.
"""

from __future__ import annotations

from typing import Any, Sequence


def compute_score(data_source: str | None = None, solution_str: str | None = None, ground_truth: Any = None,
                  extra_info: Any = None, **kwargs: Any) -> float:
    """Guard for verl's reward-function path: cm2 rewards come from the env, never from here."""
    task = (extra_info or {}).get("task_id") if isinstance(extra_info, dict) else None
    raise RuntimeError(
        f"verl asked for a reward function score (data_source={data_source!r}, task={task!r}): the sample has no "
        "reward_score from the agent loop. cm2 rows must run the cm2_env agent loop (agent_name=cm2_env), "
        "whose env checklist score is the reward."
    )


def turn_token_rewards(turn_scores: Sequence[float], turn_token_ends: Sequence[int], response_length: int,
                       *, as_tensor: bool = True):
    """Token-level rewards with each turn's checklist score on the last policy token of that turn.

    ``turn_scores`` and ``turn_token_ends`` are a sample's ``extra_fields`` from ``CM2AgentLoop``;
    ``response_length`` is the (padded) response width. Turns whose end falls outside the response are dropped.
    """
    rewards = [0.0] * response_length
    for score, end in zip(turn_scores, turn_token_ends):
        if 0 <= int(end) < response_length:
            rewards[int(end)] += float(score)
    if not as_tensor:
        return rewards
    import torch

    return torch.tensor(rewards, dtype=torch.float32)
