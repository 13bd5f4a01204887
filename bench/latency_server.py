"""A loopback OpenAI-compatible server with a fixed latency, for throughput benchmarks.

It answers by the request's ``model`` (one role per model name): ``policy`` returns one native tool call
(the first tool, arguments synthesised from its schema) and then, once a tool result is in the turn, a final
reply; any request with ``response_format`` json_schema gets a JSON value synthesised from that schema
(judge verdicts); others (``simulator``) get a small JSON object. Every answer waits ``--latency`` seconds.

    python bench/latency_server.py --port 8123 --latency 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time

from aiohttp import web

from cm2_env.tools.synthetic import _value  # schema-conforming value synthesis

STATS = {"requests": 0, "by_model": {}, "inflight": 0, "max_inflight": 0}


def _policy(body: dict) -> dict:
    msgs = body.get("messages") or []
    since_user = []
    for m in reversed(msgs):
        if m.get("role") == "user":
            break
        since_user.append(m)
    tools = body.get("tools") or []
    if tools and not any(m.get("role") == "tool" for m in since_user):
        fn = tools[0]["function"]
        params = fn.get("parameters") or {}
        req = {k: params.get("properties", {}).get(k, {}) for k in params.get("required", [])}
        args = {k: _value(v if isinstance(v, dict) else {}, random.Random(k)) for k, v in req.items()}
        return {"role": "assistant", "content": "",
                "tool_calls": [{"id": f"call_{len(msgs)}", "type": "function",
                                "function": {"name": fn["name"], "arguments": json.dumps(args)}}]}
    return {"role": "assistant", "content": "Here is what I found. Anything else?"}


async def chat(request: web.Request) -> web.Response:
    body = await request.json()
    model = body.get("model", "")
    STATS["requests"] += 1
    STATS["by_model"][model] = STATS["by_model"].get(model, 0) + 1
    STATS["inflight"] += 1
    STATS["max_inflight"] = max(STATS["max_inflight"], STATS["inflight"])
    try:
        await asyncio.sleep(request.app["latency"])
    finally:
        STATS["inflight"] -= 1
    rf = body.get("response_format") or {}
    if model == "policy":
        message = _policy(body)
    elif rf.get("type") == "json_schema":
        schema = rf.get("json_schema", {}).get("schema") or {}
        message = {"role": "assistant", "content": json.dumps(_value(schema, random.Random(STATS["requests"])))}
    else:
        message = {"role": "assistant", "content": json.dumps({"status": "ok", "items": [1, 2, 3]})}
    prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages") or []) // 4
    return web.json_response({
        "id": f"cmpl-{STATS['requests']}", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message,
                     "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": 16, "total_tokens": prompt + 16},
    })


async def stats(request: web.Request) -> web.Response:
    return web.json_response(STATS)


async def reset(request: web.Request) -> web.Response:
    STATS["requests"] = 0
    STATS["by_model"] = {}
    STATS["max_inflight"] = 0
    return web.json_response(STATS)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--latency", type=float, default=0.1)
    args = ap.parse_args()
    app = web.Application()
    app["latency"] = args.latency
    app.add_routes([web.post("/v1/chat/completions", chat), web.get("/stats", stats), web.post("/reset", reset),
                    web.get("/health", stats)])
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None, backlog=4096)


if __name__ == "__main__":
    main()
