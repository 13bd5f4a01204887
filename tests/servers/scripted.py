"""A scripted OpenAI-compatible chat server on loopback (aiohttp, in a background thread).

Each request to ``/v1/chat/completions`` is answered by the next queued action, or else by ``handler(body)``.
Actions model real failure modes: replies (any text, e.g. truncated or schema-violating JSON), latency,
HTTP errors with headers (429 + Retry-After, 500), dropped connections, non-JSON bodies, 200 bodies of the
wrong shape (``Raw``: any JSON value, e.g. ``{"choices": []}``) and replies trickled out slowly (``Trickle``).
Every request body is recorded in ``server.requests``. Usage is reported as chars/4 so token counts depend on
the request.

    with ScriptedServer(handler=lambda body: '{"ok": true}') as srv:
        srv.push(Status(429, headers={"Retry-After": "1"}))
        LLMClient({"base_url": srv.url, "model": "m"})
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Union

from aiohttp import web


@dataclass
class Reply:
    content: str
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass
class Delay:
    seconds: float
    then: "Action | None" = None


@dataclass
class Status:
    code: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


@dataclass
class Drop:
    """Close the connection without answering."""


@dataclass
class BadBody:
    """HTTP 200 whose body is cut-off JSON."""


@dataclass
class Raw:
    """HTTP ``status`` (200) whose body is ``body`` as JSON, verbatim: a completion of the wrong shape
    (``{"choices": ["oops"]}``, a list, a string, bad ``usage``...)."""

    body: Any
    status: int = 200


@dataclass
class Trickle:
    """HTTP 200 that sends a byte of whitespace every ``interval`` seconds for ``seconds``, then the reply: a
    server that is slow but never silent long enough to trip a per-read timeout. ``then``: the reply (default:
    the handler's, which must then be a text or a Reply)."""

    seconds: float
    interval: float = 0.1
    then: "Reply | str | None" = None


Action = Union[Reply, Delay, Status, Drop, BadBody, Raw, Trickle, str]
Handler = Callable[[dict[str, Any]], Action]


def free_port() -> int:
    """A port nothing listens on (connection refused) — until someone binds it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def count_tokens(body: dict[str, Any]) -> int:
    chars = sum(len(m.get("content") or "") for m in body.get("messages", []))
    return max(1, chars // 4)


class ScriptedServer:
    def __init__(self, handler: Handler | None = None, model: str = "scripted", port: int = 0):
        self.handler: Handler = handler or (lambda body: "ok")
        self.model = model
        self.queue: deque[Action] = deque()
        self.requests: list[dict[str, Any]] = []
        self.request_times: list[float] = []
        self.port: int | None = None
        self._bind_port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ control

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *actions: Action) -> "ScriptedServer":
        with self._lock:
            self.queue.extend(actions)
        return self

    def reset(self) -> None:
        with self._lock:
            self.queue.clear()
            self.requests.clear()
            self.request_times.clear()

    def __enter__(self) -> "ScriptedServer":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name="scripted-llm-server")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("scripted server did not start")

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._bind_port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    # ------------------------------------------------------------------ handlers

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        with self._lock:
            self.requests.append(body)
            self.request_times.append(time.monotonic())
            action = self.queue.popleft() if self.queue else None
        if action is None:
            try:
                action = self.handler(body)
            except Exception as e:  # a broken test handler answers 500, visibly
                action = Status(500, body={"error": {"message": f"handler failed: {e!r}"}})
        return await self._act(request, body, action)

    async def _act(self, request: web.Request, body: dict[str, Any], action: Action) -> web.StreamResponse:
        if isinstance(action, str):
            action = Reply(action)
        if isinstance(action, Delay):
            await asyncio.sleep(action.seconds)
            return await self._act(request, body, action.then if action.then is not None else self.handler(body))
        if isinstance(action, Status):
            payload = action.body or {"error": {"message": f"scripted {action.code}", "type": "scripted",
                                                "code": action.code}}
            return web.json_response(payload, status=action.code, headers=action.headers)
        if isinstance(action, Drop):
            request.transport.close()
            return web.Response(status=500)
        if isinstance(action, BadBody):
            return web.Response(text='{"id": "x", "choices": [{"message": {"content": "tru', status=200,
                                content_type="application/json")
        if isinstance(action, Trickle):
            resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            await resp.prepare(request)
            deadline = time.monotonic() + action.seconds
            while time.monotonic() < deadline:
                await resp.write(b" ")
                await asyncio.sleep(action.interval)
            then = action.then if action.then is not None else self.handler(body)
            then = Reply(then) if isinstance(then, str) else then
            await resp.write(json.dumps(self._completion(body, then)).encode())
            await resp.write_eof()
            return resp
        if isinstance(action, Raw):
            return web.Response(text=json.dumps(action.body), status=action.status, content_type="application/json")
        return web.json_response(self._completion(body, action))

    def _completion(self, body: dict[str, Any], action: Reply) -> dict[str, Any]:
        pt = action.prompt_tokens if action.prompt_tokens is not None else count_tokens(body)
        ct = action.completion_tokens if action.completion_tokens is not None else max(1, len(action.content) // 4)
        return {
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": action.content},
                         "finish_reason": action.finish_reason}],
            "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
        }


def last_user_text(body: dict[str, Any]) -> str:
    for m in reversed(body.get("messages", [])):
        if m.get("role") == "user":
            return m.get("content") or ""
    return ""


def system_text(body: dict[str, Any]) -> str:
    return "\n".join(m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "system")


def dumps(value: Any) -> str:
    return json.dumps(value)
