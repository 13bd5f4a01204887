"""The project trainer that gives verl CM2's turn- and step-level advantages, without forking verl.

verl 0.9.1's advantage estimators see only ``token_level_rewards``, ``response_mask`` and ``uid``; the per-turn
scores, turn ends, step spans and item verdicts a turn/step advantage needs live in each sample's
``extra_fields["cm2_credit"]`` (written by :class:`~train.verl.agent_loop.CM2AgentLoop`, stored by verl's
v1 worker in TransferQueue). So:

* :class:`CM2PPOTrainer` (``trainer.v1.trainer_mode=cm2_sync``, registered with verl's ``register_trainer``) is
  verl's ``PPOTrainerSync`` whose advantage step first fetches those records for the batch;
* the advantage estimator ``cm2`` (``algorithm.adv_estimator=cm2``, registered with ``register_adv_est``) turns
  them into token advantages with :mod:`train.verl.advantages` — verl's own ``compute_advantage`` calls it,
  so KL-in-reward, rollout correction and the write-back to TransferQueue stay verl's;
* :class:`CM2TaskRunner` is verl's ``TaskRunnerV1`` that imports this module inside its Ray actor (where the
  trainer class is looked up) before running.

``cm2.advantage=trajectory`` needs none of this: verl's GRPO path computes it (score − group mean).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

import ray
import torch
from verl.trainer.main_ppo import TaskRunnerV1
from verl.trainer.ppo.core_algos import register_adv_est
from verl.trainer.ppo.v1.trainer_base import register_trainer
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

from .advantages import LEVELS, RolloutCredit, compute

TRAINER_MODE = "cm2_sync"
ESTIMATOR = "cm2"
CREDIT_KEY = "cm2_credit"


@dataclass(frozen=True)
class PendingCredit:
    """The batch's credit records and settings, handed from the trainer to the estimator of the same call."""

    level: str
    records: list[dict[str, Any] | None]
    min_group: int = 5
    eta: float = 1.0


_PENDING: contextvars.ContextVar[PendingCredit | None] = contextvars.ContextVar("cm2_pending_credit", default=None)


def settings_of(config: Any) -> tuple[str, int, float]:
    """``cm2.advantage``, ``cm2.advantage_min_group``, ``cm2.step_eta`` from the trainer config."""
    cm2 = config.get("cm2") or {}
    level = str(cm2.get("advantage", "trajectory"))
    if level not in LEVELS:
        raise ValueError(f"cm2.advantage must be one of {', '.join(LEVELS)}, got {level!r}")
    return level, int(cm2.get("advantage_min_group", 5)), float(cm2.get("step_eta", 1.0))


@register_adv_est(ESTIMATOR)
def cm2_advantage(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, index: Any = None,
                  config: Any = None, **_: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """verl advantage estimator ``cm2``: returns (advantages, returns), both the CM2 token advantages."""
    pending = _PENDING.get()
    if pending is None:
        raise RuntimeError("algorithm.adv_estimator=cm2 needs the CM2 trainer: set trainer.v1.trainer_mode="
                           f"{TRAINER_MODE} (python -m train.grpo does when cm2.advantage is turn or step)")
    n = token_level_rewards.shape[0]
    if len(pending.records) != n or index is None or len(index) != n:
        raise RuntimeError(f"cm2 advantage: {len(pending.records)} credit records / "
                           f"{0 if index is None else len(index)} uids for a batch of {n}")
    scores = token_level_rewards.sum(dim=-1).detach().cpu().numpy()
    rollouts = [RolloutCredit.from_record(index[i], float(scores[i]), pending.records[i] or {}) for i in range(n)]
    adv = compute(pending.level, rollouts, response_mask.detach().cpu().numpy(),
                  min_group=pending.min_group, eta=pending.eta)
    out = torch.as_tensor(adv, dtype=token_level_rewards.dtype, device=token_level_rewards.device)
    return out, out.clone()


def with_credit(records: list[dict[str, Any] | None], config: Any):
    """Context in which the ``cm2`` estimator sees ``records`` (row order = the batch's)."""
    level, min_group, eta = settings_of(config)
    return _CreditScope(PendingCredit(level, records, min_group, eta))


class _CreditScope:
    def __init__(self, pending: PendingCredit):
        self.pending = pending
        self._token: contextvars.Token | None = None

    def __enter__(self) -> PendingCredit:
        self._token = _PENDING.set(self.pending)
        return self.pending

    def __exit__(self, *exc: Any) -> None:
        _PENDING.reset(self._token)


def credit_records(extra_fields: Any) -> list[dict[str, Any] | None]:
    """Each sample's ``extra_fields[cm2_credit]`` from what TransferQueue returns for the field."""
    values = extra_fields.tolist() if hasattr(extra_fields, "tolist") else list(extra_fields)
    return [v.get(CREDIT_KEY) if isinstance(v, dict) else None for v in values]


@register_trainer(TRAINER_MODE)
class CM2PPOTrainer(PPOTrainerSync):
    """verl's synchronous v1 trainer whose advantage step also reads the agent loop's per-turn credit."""

    def _compute_advantage(self, batch: Any, metrics: dict) -> Any:
        if self.config.algorithm.adv_estimator != ESTIMATOR:
            return super()._compute_advantage(batch, metrics)
        import transfer_queue as tq

        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["extra_fields"])
        records = credit_records(data["extra_fields"])
        missing = sum(r is None for r in records)
        metrics["cm2/credit_missing"] = float(missing)
        with with_credit(records, self.config):
            return super()._compute_advantage(batch, metrics)


@ray.remote
class CM2TaskRunner(TaskRunnerV1.__ray_actor_class__):
    """verl's v1 task runner; imports this module in its Ray actor so ``cm2_sync`` is registered there."""

    def run(self, config: Any) -> None:
        from . import trainer  # noqa: F401 - registers CM2PPOTrainer and the cm2 estimator in this process

        return super().run(config)
