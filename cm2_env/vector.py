"""Many cm2 episodes stepped concurrently on ONE asyncio event loop, behind Gymnasium's VectorEnv API.

Agent RL is I/O-bound on LLM servers, so sub-envs are coroutines, not processes: a batched ``step`` awaits
every sub-env's ``astep`` together (tool simulators, users and judges overlap their LLM calls), and the
sync methods drive that on a private loop. Autoreset follows Gymnasium's modes: ``NEXT_STEP`` (default —
the step after a sub-env finished resets it and ignores its action) or ``SAME_STEP`` (reset at once; the
finished episode's observation and info are in ``info["final_obs"]`` / ``info["final_info"]``) or
``DISABLED`` (reset finished sub-envs yourself with ``options={"reset_mask": ...}``).
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Sequence

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .env import ToolTaskEnv
from .loop_runner import LoopRunner
from .envs import make


class AsyncToolVectorEnv(VectorEnv):
    """A VectorEnv of ToolTaskEnvs sharing one event loop."""

    def __init__(
        self,
        env_fns: Sequence[Callable[[], ToolTaskEnv]],
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    ):
        self.envs: list[ToolTaskEnv] = [fn() for fn in env_fns]
        self.num_envs = len(self.envs)
        if isinstance(autoreset_mode, str):  # Gymnasium's value ("SameStep") or the enum name ("same_step")
            by_name = {m.name.lower(): m for m in AutoresetMode}
            try:
                autoreset_mode = by_name.get(autoreset_mode.lower()) or AutoresetMode(autoreset_mode)
            except ValueError:
                raise ValueError(f"unknown autoreset_mode {autoreset_mode!r}; one of {', '.join(by_name)}") from None
        self.autoreset_mode = autoreset_mode
        self.metadata = {**self.envs[0].metadata, "autoreset_mode": autoreset_mode}
        self.render_mode = self.envs[0].render_mode
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._obs: list[Any] = [None] * self.num_envs
        self._autoreset = np.zeros(self.num_envs, dtype=np.bool_)
        self._runner = LoopRunner()
        self._last_options: list[dict[str, Any] | None] = [None] * self.num_envs

    # ------------------------------------------------------------------ helpers

    def _per_env(self, value: Any, n: int) -> list[Any]:
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise ValueError(f"expected {n} per-env values, got {len(value)}")
            return list(value)
        return [value] * n

    def _seeds(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, int):
            return [seed + i for i in range(self.num_envs)]
        return self._per_env(list(seed), self.num_envs)

    # ------------------------------------------------------------------ async API

    async def areset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict | Sequence[dict | None] | None = None
    ) -> tuple[tuple, dict[str, Any]]:
        """Reset all sub-envs (or those in ``options["reset_mask"]``); ``options`` may be one dict per env."""
        seeds = self._seeds(seed)
        mask = np.ones(self.num_envs, dtype=np.bool_)
        if isinstance(options, dict) and "reset_mask" in options:
            options = dict(options)
            mask = np.asarray(options.pop("reset_mask"), dtype=np.bool_)
        opts = self._per_env(options, self.num_envs)
        idx = [i for i in range(self.num_envs) if mask[i]]
        results = await asyncio.gather(*(self.envs[i].areset(seed=seeds[i], options=opts[i]) for i in idx))
        infos: dict[str, Any] = {}
        for i, (obs, info) in zip(idx, results):
            self._obs[i] = obs
            self._last_options[i] = opts[i]
            self._autoreset[i] = False
            infos = self._add_info(infos, info, i)
        return tuple(self._obs), infos

    async def astep(self, actions: Sequence[Any]) -> tuple[tuple, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = list(actions)
        if len(actions) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} actions, got {len(actions)}")
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terms = np.zeros(self.num_envs, dtype=np.bool_)
        truncs = np.zeros(self.num_envs, dtype=np.bool_)

        async def one(i: int) -> tuple[int, str, Any]:
            env = self.envs[i]
            if self.autoreset_mode == AutoresetMode.NEXT_STEP and self._autoreset[i]:
                return i, "reset", await env.areset(options=self._last_options[i])
            if self.autoreset_mode == AutoresetMode.DISABLED and self._autoreset[i]:
                raise RuntimeError(f"sub-env {i} finished; reset it (autoreset is disabled)")
            out = await env.astep(actions[i])
            if self.autoreset_mode == AutoresetMode.SAME_STEP and (out[2] or out[3]):
                return i, "same_step", (out, await env.areset(options=self._last_options[i]))
            return i, "step", out

        infos: dict[str, Any] = {}
        for i, kind, out in await asyncio.gather(*(one(i) for i in range(self.num_envs))):
            if kind == "reset":
                self._obs[i], info = out
            elif kind == "same_step":
                (final_obs, rewards[i], terms[i], truncs[i], final_info), (self._obs[i], info) = out
                infos = self._add_info(infos, {"final_obs": final_obs, "final_info": final_info}, i)
            else:
                self._obs[i], rewards[i], terms[i], truncs[i], info = out
            infos = self._add_info(infos, info, i)
        self._autoreset = np.logical_or(terms, truncs)
        return tuple(self._obs), rewards, terms, truncs, infos

    # ------------------------------------------------------------------ sync API

    def reset(self, *, seed=None, options=None):
        return self._runner.run(self.areset(seed=seed, options=options))

    def step(self, actions):
        return self._runner.run(self.astep(actions))

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()
        self._runner.close()

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple:
        out = []
        for env in self.envs:
            attr = getattr(env, name)
            out.append(attr(*args, **kwargs) if callable(attr) else attr)
        return tuple(out)

    def get_attr(self, name: str) -> tuple:
        return tuple(getattr(env, name) for env in self.envs)


def make_vec(
    env_id: str = "cm2/ToolTask-v0",
    num_envs: int = 1,
    autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    **kwargs: Any,
) -> AsyncToolVectorEnv:
    """``num_envs`` copies of a registered env, stepped concurrently on one event loop."""
    return AsyncToolVectorEnv([lambda: make(env_id, **kwargs) for _ in range(num_envs)], autoreset_mode)
