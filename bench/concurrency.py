"""Concurrent-episode throughput against LLM servers with a fixed latency.

A loopback OpenAI-compatible server (bench/latency_server.py, its own process) answers the policy (the
OpenAI chat agent, native tools), the LLM tool simulator and the batched LLM judge, each after L seconds.
For N concurrent episodes it prints achieved episodes/s against the ideal N / (LLM calls per episode × L)
— within an episode the calls are sequential, so that is the best any runner can do — and the peak RSS
growth per concurrent episode.

    python bench/concurrency.py [--latency 0.1] [--levels 1,8,64,256,512] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

import cm2_env
from agents.openai_agent import OpenAIChatAgent
from cm2_env.registry import with_shared_backends
from cm2_env.rollout import plan_episodes, run_rollouts

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url: str, method: str = "GET") -> dict:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(HERE / "latency_server.py"), "--port", str(port),
                             "--latency", str(latency)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            http(base + "/health")
            return proc, base
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("latency server did not start")


async def measure(n: int, rounds: int, base: str, latency: float) -> dict:
    role = {"base_url": base + "/v1", "max_concurrency": max(64, 2 * n), "timeout": 30 + 10 * latency,
            "retries": 2, "max_tokens": 64}
    kwargs = with_shared_backends(
        "cm2/ToolTask-v0",
        tool_backend={"name": "llm", "llm": {**role, "model": "simulator", "role": "simulator"}},
        judge={"name": "llm", "llm": {**role, "model": "judge", "role": "judge"}, "mode": "batched"},
    )
    envs_tasks = cm2_env.make("cm2/ToolTask-v0", **kwargs).tasks
    specs = plan_episodes(envs_tasks, n * rounds, 1, seed=n)
    policy = {**role, "model": "policy", "role": "policy"}
    proc = psutil.Process()
    base_rss = proc.memory_info().rss
    peak = base_rss
    stop = False

    async def sample_rss() -> None:
        nonlocal peak
        while not stop:
            peak = max(peak, proc.memory_info().rss)
            await asyncio.sleep(0.02)

    http(base + "/reset", "POST")
    out = Path(tempfile.mkdtemp()) / f"n{n}.jsonl"
    sampler = asyncio.create_task(sample_rss())
    t0 = time.perf_counter()
    records = await run_rollouts(lambda: cm2_env.make("cm2/ToolTask-v0", **kwargs),
                                 lambda: OpenAIChatAgent(llm=policy), specs, out, concurrency=n)
    wall = time.perf_counter() - t0
    stop = True
    await sampler
    stats = http(base + "/stats")
    calls = stats["requests"] / max(1, len(records))
    ideal = n / (calls * latency)
    achieved = len(records) / wall
    failed = sum(1 for r in records if r.get("score") is None)
    return {"n": n, "episodes": len(records), "failed": failed, "calls_per_ep": calls, "wall_s": wall,
            "eps": achieved, "ideal_eps": ideal, "ratio": achieved / ideal,
            "rss_mb_per_ep": (peak - base_rss) / n / 2**20, "by_model": stats["by_model"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.1, help="seconds per LLM call (L)")
    ap.add_argument("--levels", default="1,8,64,256,512")
    ap.add_argument("--rounds", type=int, default=3, help="episodes per concurrency slot (steady state)")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    proc, base = start_server(args.latency)
    try:
        print(f"L = {args.latency * 1000:.0f} ms per LLM call; {os.cpu_count()} cores; episodes = N × {args.rounds}")
        print(f"{'N':>5} {'episodes':>8} {'calls/ep':>8} {'wall s':>7} {'ep/s':>8} {'ideal':>8} {'ratio':>6} "
              f"{'MB/ep':>6}  failed")
        for n in levels:
            r = asyncio.run(measure(n, args.rounds, base, args.latency))
            print(f"{r['n']:>5} {r['episodes']:>8} {r['calls_per_ep']:>8.1f} {r['wall_s']:>7.2f} {r['eps']:>8.1f} "
                  f"{r['ideal_eps']:>8.1f} {r['ratio']:>6.2f} {r['rss_mb_per_ep']:>6.2f}  {r['failed']}", flush=True)
    finally:
        proc.terminate()
        proc.wait(5)


if __name__ == "__main__":
    main()
