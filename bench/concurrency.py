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
from cm2_env.envs import with_shared_backends
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
        early_stop=False,  # the scripted policy fails turn 0 often; play every turn for steady load
    )
    envs_tasks = cm2_env.make("cm2/ToolTask-v0", **kwargs).tasks
    specs = plan_episodes(envs_tasks, n * rounds, 1, seed=n)
    policy = {**role, "model": "policy", "role": "policy"}
    proc = psutil.Process()
    base_rss = proc.memory_info().rss
    peak = base_rss
    stop = False

    served: list[tuple[float, int]] = []  # (time since t0, requests the server has answered)

    async def sample_rss() -> None:
        nonlocal peak
        import aiohttp

        async with aiohttp.ClientSession() as session:
            while not stop:
                peak = max(peak, proc.memory_info().rss)
                async with session.get(base + "/stats") as resp:
                    served.append((time.perf_counter() - t0, (await resp.json())["requests"]))
                await asyncio.sleep(0.25)

    # warm-up in this event loop: HTTP clients, TLS contexts and the first connections are one-off costs
    warm = plan_episodes(envs_tasks, min(n, 8), 1, seed=10_000 + n)
    await run_rollouts(lambda: cm2_env.make("cm2/ToolTask-v0", **kwargs), lambda: OpenAIChatAgent(llm=policy),
                       warm, Path(tempfile.mkdtemp()) / "warm.jsonl", concurrency=len(warm))
    http(base + "/reset", "POST")
    out = Path(tempfile.mkdtemp()) / f"n{n}.jsonl"
    t0 = time.perf_counter()
    sampler = asyncio.create_task(sample_rss())
    ends: list[tuple[float, float]] = []  # (start, end) per episode, relative to t0

    def on_record(rec: dict) -> None:
        end = time.perf_counter() - t0
        ends.append((end - rec.elapsed_s, end))

    records = await run_rollouts(lambda: cm2_env.make("cm2/ToolTask-v0", **kwargs),
                                 lambda: OpenAIChatAgent(llm=policy), specs, out, concurrency=n,
                                 on_record=on_record)
    wall = time.perf_counter() - t0
    # steady state: until the last episode starts, N episodes are in flight (after it the run drains); in
    # that window the ideal server load is N / L requests per second — compare the served rate with it
    last_start = max(s for s, _ in ends)
    window = [(t, r) for t, r in served if 0.1 * last_start <= t <= last_start]
    steady_rate = ((window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
                   if len(window) >= 2 and window[-1][0] > window[0][0] else float("nan"))
    stop = True
    await sampler
    stats = http(base + "/stats")
    calls = stats["requests"] / max(1, len(records))
    ideal = n / (calls * latency)
    achieved = len(records) / wall
    steady = steady_rate / calls
    failed = sum(1 for r in records if r.get("score") is None)
    return {"n": n, "episodes": len(records), "failed": failed, "calls_per_ep": calls, "wall_s": wall,
            "eps": achieved, "ideal_eps": ideal, "ratio": achieved / ideal, "steady_eps": steady,
            "steady_ratio": steady / ideal,
            "rss_mb_per_ep": (peak - base_rss) / n / 2**20, "by_model": stats["by_model"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.1, help="seconds per LLM call (L)")
    ap.add_argument("--levels", default="1,8,64,256,512")
    ap.add_argument("--rounds", type=int, default=4, help="episodes per concurrency slot (steady state)")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    proc, base = start_server(args.latency)
    try:
        print(f"L = {args.latency * 1000:.0f} ms per LLM call; {os.cpu_count()} cores; episodes = N × {args.rounds}")
        print("ratio = achieved / ideal over the whole run (includes the drain at the end); steady = LLM calls "
              "served per second while all N slots are busy, in episodes/s (calls/s ÷ calls/ep)")
        print(f"{'N':>5} {'episodes':>8} {'calls/ep':>8} {'wall s':>7} {'ep/s':>8} {'ideal':>8} {'ratio':>6} "
              f"{'steady':>7} {'ratio':>6} {'MB/ep':>6}  failed")
        for n in levels:
            r = asyncio.run(measure(n, args.rounds, base, args.latency))
            print(f"{r['n']:>5} {r['episodes']:>8} {r['calls_per_ep']:>8.1f} {r['wall_s']:>7.2f} {r['eps']:>8.1f} "
                  f"{r['ideal_eps']:>8.1f} {r['ratio']:>6.2f} {r['steady_eps']:>7.1f} {r['steady_ratio']:>6.2f} "
                  f"{r['rss_mb_per_ep']:>6.2f}  {r['failed']}", flush=True)
    finally:
        proc.terminate()
        proc.wait(5)


if __name__ == "__main__":
    main()
