"""Labeller throughput (`cm2 data label`) against a fixed-latency loopback server, as a fraction of ideal.

A loopback OpenAI-compatible server (this file with ``--serve``, its own process) answers every labelling
request after L seconds with a valid checklist (the scripted labeller of tests/servers/roles.py). The label
stage runs over N synthetic records with C records in flight (default 256, the role's HTTP limit the same);
each record takes one request, so the ideal is C / L records/s. Printed: achieved records/s, the fraction of
ideal (target >= 0.9), the most requests the server saw in flight, and the stage's wall time.

    python bench/data_labeller.py [--records 1536] [--concurrency 256] [--latency 2.0] [--no-cache]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:  # also when loaded by path (bench/data_pipeline.py)
    sys.path.insert(0, str(HERE))
from _test_servers import load_test_servers  # noqa: E402


def _roles():
    load_test_servers()
    from cm2_test_servers.roles import label_answer

    return label_answer


def serve(port: int, latency: float) -> None:
    from aiohttp import web

    label_answer = _roles()
    stats = {"requests": 0, "inflight": 0, "max_inflight": 0}

    async def chat(request: web.Request) -> web.Response:
        loop = asyncio.get_running_loop()
        arrived = loop.time()
        body = await request.json()
        stats["requests"] += 1
        stats["inflight"] += 1
        stats["max_inflight"] = max(stats["max_inflight"], stats["inflight"])
        try:
            # the answer is made while the request waits, so the reply leaves L after the request came in: the
            # server's own CPU (reading the prompt, writing the checklist) is not added to every call's latency
            content = label_answer(body)
            reply = json.dumps({
                "id": f"c{stats['requests']}", "object": "chat.completion", "created": 0, "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 500, "completion_tokens": len(content) // 4, "total_tokens": 0},
            })
            await asyncio.sleep(max(0.0, latency - (loop.time() - arrived)))
        finally:
            stats["inflight"] -= 1
        return web.Response(text=reply, content_type="application/json")

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response(stats)

    async def reset(request: web.Request) -> web.Response:
        stats.update(requests=0, inflight=0, max_inflight=0)
        return web.json_response(stats)

    app = web.Application(client_max_size=64 << 20)
    app.add_routes([web.post("/v1/chat/completions", chat), web.get("/stats", get_stats), web.post("/reset", reset)])
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, backlog=4096)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(url: str, method: str = "GET") -> dict:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def _warm_imports() -> None:
    """Import what the stage imports on first use (omegaconf in its config coercion, ~0.1 s; the output lock's
    module): an interpreter's one-time import cost is start-up, like the server's, not labelling time."""
    for name in ("omegaconf", "cm2_env.rollout"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def record(i: int) -> dict:
    return {"id": f"b{i}", "source": {"format": "bench"}, "meta": {},
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Forecast.",
                                                         "parameters": {"type": "object", "properties": {
                                                             "city": {"type": "string"}}, "required": ["city"]}}}],
            "messages": [
                {"role": "user", "content": f"Weather in City{i}?"},
                {"role": "assistant", "content": "<think>\nCall the tool.\n</think>",
                 "tool_calls": [{"id": "c1", "type": "function",
                                 "function": {"name": "get_weather", "arguments": json.dumps({"city": f"City{i}"})}}]},
                {"role": "tool", "tool_call_id": "c1", "content": json.dumps({"temp_c": i % 30, "sky": "clear"})},
                {"role": "assistant", "content": f"<think>\nAnswer.\n</think>\n\nIt is {i % 30} C in City{i}."},
            ]}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=1536)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--latency", type=float, default=2.0)
    ap.add_argument("--no-cache", action="store_true", help="run without the stage's response cache")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.port, args.latency)
        return {}

    from cm2_env.data.stage import get_stage

    _warm_imports()

    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", "--port", str(port),
                             "--latency", str(args.latency)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                _http(base + "/stats")
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("the bench server did not start")
        with tempfile.TemporaryDirectory() as tmp:
            inp = Path(tmp) / "in.jsonl"
            with inp.open("w") as fh:
                for i in range(args.records):
                    fh.write(json.dumps(record(i)) + "\n")
            options = {"llm": {"base_url": base + "/v1", "model": "bench", "retries": 1,
                               "timeout": 60 + 10 * args.latency, "max_concurrency": args.concurrency},
                       "concurrency": args.concurrency, "cache": not args.no_cache, "progress": False}
            t0, c0 = time.perf_counter(), time.process_time()
            report = get_stage("label")(inp, Path(tmp) / "out.jsonl", options, resume=False)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        stats = _http(base + "/stats")
    finally:
        proc.terminate()
        proc.wait(10)
    achieved = report["kept"] / wall
    ideal = args.concurrency / args.latency
    result = {"records": args.records, "kept": report["kept"], "rejected": report["rejected"],
              "concurrency": args.concurrency, "latency_s": args.latency, "cache": not args.no_cache,
              "wall_s": round(wall, 3), "client_cpu_s": round(cpu, 3),
              "client_cpu_ms_per_record": round(1000 * cpu / max(args.records, 1), 3), "records_per_s": round(achieved, 1), "ideal_records_per_s": round(ideal, 1),
              "fraction_of_ideal": round(achieved / ideal, 3), "server_requests": stats["requests"],
              "server_max_inflight": stats["max_inflight"]}
    print(f"labeller: {result['records_per_s']} records/s at {args.concurrency} in flight, latency "
          f"{args.latency}s (ideal {result['ideal_records_per_s']}): {result['fraction_of_ideal']:.3f} of ideal "
          f"(target >= 0.9); server max in flight {stats['max_inflight']}, {stats['requests']} requests, "
          f"wall {wall:.2f}s, cache {'on' if not args.no_cache else 'off'}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
