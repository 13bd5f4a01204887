"""Env overhead per step with offline backends (parsing, validation, replay, bookkeeping, judging, scoring).

Replays the reference actions of every starter-suite task (recorded once, up front, so the agent costs
nothing during timing) and prints the median µs per env step and steps/s on one core; then the same workload
through Gymnasium's SyncVectorEnv and through cm2_env's one-event-loop vector env, side by side.

    python bench/env_overhead.py [--repeats 5] [--num-envs 16] [--text]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time

import gymnasium as gym
import numpy as np

import cm2_env
from agents.reference import ReferenceAgent
from cm2_env.vector import make_vec


def record_actions(env, as_text: bool) -> dict[str, list]:
    """task id → the reference agent's actions for one episode."""
    out = {}
    for task in env.tasks:
        agent = ReferenceAgent(as_text=as_text)
        obs, info = env.reset(options={"task_id": task.id})
        agent.reset(env.task)
        actions, done = [], False
        while not done:
            a = asyncio.run(agent.act(obs, info))
            actions.append(a)
            obs, r, term, trunc, info = env.step(a)
            done = term or trunc
        out[task.id] = actions
    return out


def single_env(env, actions: dict[str, list], repeats: int) -> list[float]:
    per_step = []
    for _ in range(repeats):
        for tid, acts in actions.items():
            env.reset(options={"task_id": tid})
            for a in acts:
                t0 = time.perf_counter_ns()
                env.step(a)
                per_step.append((time.perf_counter_ns() - t0) / 1000)
    return per_step


def vector_run(venv, actions: dict[str, list], num_envs: int, repeats: int) -> tuple[int, float]:
    """Each sub-env replays one task's actions (cycling); returns (env steps, seconds)."""
    ids = list(actions)
    steps = 0
    t0 = time.perf_counter()
    for rep in range(repeats):
        for start in range(0, len(ids), num_envs):
            chunk = [ids[(start + k) % len(ids)] for k in range(num_envs)]
            venv.reset(options=[{"task_id": t} for t in chunk]) if isinstance(venv, cm2_env.vector.AsyncToolVectorEnv) \
                else _reset_sync(venv, chunk)
            longest = max(len(actions[t]) for t in chunk)
            for k in range(longest):
                acts = [actions[t][k] if k < len(actions[t]) else "" for t in chunk]
                live = sum(k < len(actions[t]) for t in chunk)
                venv.step(acts)
                steps += live
    return steps, time.perf_counter() - t0


def _reset_sync(venv, chunk):
    # SyncVectorEnv passes one options dict to every sub-env, so reset each with its own task, then clear
    # the autoreset flags so the next step is the first action (not a reset)
    for env, tid in zip(venv.envs, chunk):
        env.unwrapped.reset(options={"task_id": tid})
    venv._autoreset_envs[:] = False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--num-envs", type=int, default=16)
    ap.add_argument("--text", action="store_true", help="raw hermes text actions (exercises the parser)")
    args = ap.parse_args()

    env = cm2_env.make("cm2/ToolTask-v0")
    actions = record_actions(env, args.text)
    n_steps = sum(map(len, actions.values()))
    gc.collect()
    per_step = single_env(env, actions, args.repeats)
    med = statistics.median(per_step)
    p90 = float(np.percentile(per_step, 90))
    total_s = sum(per_step) / 1e6
    print(f"starter suite: {len(actions)} tasks, {n_steps} steps per pass, {args.repeats} passes, "
          f"actions as {'text' if args.text else 'dicts'}")
    print(f"single env   : median {med:8.1f} µs/step   p90 {p90:8.1f} µs   {len(per_step) / total_s:10.0f} steps/s")

    sync = gym.vector.SyncVectorEnv(
        [lambda: gym.make("cm2/ToolTask-v0", disable_env_checker=True) for _ in range(args.num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
    )
    sync.reset(seed=0)
    s_steps, s_sec = vector_run(sync, actions, args.num_envs, args.repeats)
    ours = make_vec("cm2/ToolTask-v0", num_envs=args.num_envs)
    o_steps, o_sec = vector_run(ours, actions, args.num_envs, args.repeats)
    print(f"SyncVectorEnv ({args.num_envs} envs) : {s_steps / s_sec:10.0f} env-steps/s   {1e6 * s_sec / s_steps:8.1f} µs/env-step")
    print(f"cm2 vector env ({args.num_envs} envs): {o_steps / o_sec:10.0f} env-steps/s   {1e6 * o_sec / o_steps:8.1f} µs/env-step")
    print(f"target: median ≤ 200 µs/step -> {'OK' if med <= 200 else 'MISSED'}")


if __name__ == "__main__":
    main()
