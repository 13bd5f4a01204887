"""Env ids: reads ``envs_registry.yaml`` (the one place env ids are declared) and registers them with Gymnasium.

Component registries (tool backends, users, judges) are in :mod:`cm2_env.components`; check types in
:mod:`cm2_env.judge.checks`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml

from .components import build_roles

ENVS_REGISTRY_PATH = Path(__file__).with_name("envs_registry.yaml")


@lru_cache(maxsize=1)
def env_specs() -> dict[str, dict[str, Any]]:
    with ENVS_REGISTRY_PATH.open() as f:
        data = yaml.safe_load(f) or {}
    for env_id, spec in data.items():
        if not isinstance(spec, dict) or "entry_point" not in spec:
            raise ValueError(f"{ENVS_REGISTRY_PATH}: {env_id} needs an entry_point")
    return data


def register_all() -> list[str]:
    ids = []
    for env_id, spec in env_specs().items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point=spec["entry_point"],
                kwargs=dict(spec.get("kwargs") or {}),
                max_episode_steps=spec.get("max_episode_steps"),
            )
        ids.append(env_id)
    return ids


def with_shared_backends(env_id: str, **kwargs: Any) -> dict[str, Any]:
    """Env kwargs whose role specs (tool backend, user, judge) are built ONCE into instances.

    Envs made from the result share them: one LLM connection pool per role, and one tool-simulator memo, so
    the rollouts of a GRPO group running in different env instances see the same simulated results.
    """
    register_all()
    defaults = dict(gym.spec(env_id).kwargs or {})
    return build_roles({**defaults, **kwargs})


def make(env_id: str = "cm2/ToolTask-v0", **kwargs: Any):
    """The unwrapped env (async API available directly); ``gym.make`` works too, with Gymnasium's wrappers."""
    register_all()
    return gym.make(env_id, disable_env_checker=True, **kwargs).unwrapped
