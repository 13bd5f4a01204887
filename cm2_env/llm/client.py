"""One async client for every LLM role, over the official ``openai`` SDK (``AsyncOpenAI``).

What it adds to the SDK:

- retries with exponential backoff + jitter on timeouts, 429 (honouring ``Retry-After``), 5xx, connection
  errors and 200 replies that are not a chat completion (the SDK's own retries are off so that the policy lives
  in one place); each attempt is capped at ``timeout`` seconds in all, connecting at ``connect_timeout``;
- least-outstanding-requests balancing over several endpoints of a role, and a per-role concurrency limit;
- structured JSON output: ``response_format`` json_schema where the server accepts it, otherwise JSON
  extraction + jsonschema validation, with a bounded re-ask that tells the model what was wrong;
- usage/cost accounting into :mod:`cm2_env.llm.usage` meters and an opt-in sqlite response cache.

Failures surface as :class:`LLMError` with a ``kind``; the roles (simulator, user, judge) turn them into
flagged results — they never escape an episode.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import email.utils
import json
import logging
import random
import sys
import time
import types
import weakref
from dataclasses import dataclass, field
from typing import Any

import openai

from ..config import to_plain
from .cache import canonical_key, open_cache
from .config import Endpoint, LLMConfig, resolve_api_key
from .jsonout import JSONOutputError, parse_json_output
from .usage import UsageMeter, record

log = logging.getLogger("cm2_env.llm")


class LLMError(Exception):
    """A request that did not produce a usable answer.

    ``kind``: timeout, rate_limited, server_error, connection, malformed_response (a 200 whose body is not a
    chat completion: not JSON, no ``choices[0].message``, ``content`` not a string...), bad_request,
    invalid_output (a completion whose text is not valid JSON for the schema after re-asks), config.
    """

    def __init__(self, kind: str, message: str, *, attempts: int = 0, last_text: str | None = None):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.attempts = attempts
        self.last_text = last_text


@dataclass
class LLMResponse:
    """One answer: the text, the parsed JSON (for ``chat_json``) and what it took to get it."""

    text: str
    data: Any = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    """Served by the persistent response cache."""
    attempts: int = 1
    """HTTP attempts including retries (0 for a cache hit)."""
    reasks: int = 0
    endpoint: str = ""
    finish_reason: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    usage_error: str | None = None
    """Why the server's ``usage`` block was unusable (its tokens then count as 0); None when it was fine."""


@dataclass
class _EndpointState:
    endpoint: Endpoint
    api_key: str
    outstanding: int = 0
    schema_supported: bool | None = None
    """None: unknown; False once the server rejected response_format json_schema."""


@dataclass
class _Failed:
    """An attempt that failed in a way worth retrying."""

    kind: str
    """timeout, rate_limited, server_error, connection or malformed_response (see LLMError)."""
    exc: Exception
    retry_after: float | None = None
    """The server's Retry-After, in seconds."""


class MalformedResponse(ValueError):
    """A 200 reply that is not a usable chat completion (see :func:`parse_completion`)."""


@dataclass
class Completion:
    """The parts of a chat completion the client uses, checked for shape."""

    text: str
    finish_reason: str | None
    tool_calls: list[Any] | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    usage_error: str | None = None


def parse_completion(resp: Any) -> Completion:
    """Check the shape of a decoded chat completion body.

    Raises :class:`MalformedResponse` when there is no usable message: the body is not an object, ``choices``
    is not a non-empty list of objects, ``choices[0].message`` is not an object, ``content`` is neither a
    string nor null, ``tool_calls`` neither a list nor null. ``content: null`` (e.g. only tool calls, or a
    reply cut at the token limit) is the text "". A ``usage`` block that is present but unusable (not an
    object, token counts that are not non-negative integers, more cached than prompt tokens) does not fail
    the call: its tokens count as 0 and ``usage_error`` says why. A missing ``usage`` counts 0, unflagged.
    """
    if not isinstance(resp, dict):
        raise MalformedResponse(f"the body is a JSON {_json_type(resp)}, not a chat completion object")
    choices = resp.get("choices")
    if not isinstance(choices, list) or not choices:
        err = resp.get("error")
        detail = f" (error: {str(err.get('message') if isinstance(err, dict) else err)[:200]})" if err else ""
        what = "empty" if isinstance(choices, list) else "missing" if choices is None else f"a {_json_type(choices)}"
        raise MalformedResponse(f"choices is {what}, not a non-empty list{detail}")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise MalformedResponse(f"choices[0] is a {_json_type(choice)}, not an object")
    message = choice.get("message")
    if not isinstance(message, dict):
        what = "missing" if message is None else f"a {_json_type(message)}"
        raise MalformedResponse(f"choices[0].message is {what}, not an object")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise MalformedResponse(f"choices[0].message.content is a {_json_type(content)}, not a string")
    tool_calls = message.get("tool_calls")
    if tool_calls is not None and not isinstance(tool_calls, list):
        raise MalformedResponse(f"choices[0].message.tool_calls is a {_json_type(tool_calls)}, not a list")
    finish = choice.get("finish_reason")
    out = Completion(text=content or "", finish_reason=finish if isinstance(finish, str) else None,
                     tool_calls=tool_calls or None)
    usage = resp.get("usage")
    if usage is not None:
        try:
            out.prompt_tokens, out.completion_tokens, out.cached_prompt_tokens = _usage_tokens(usage)
        except MalformedResponse as e:
            out.usage_error = str(e)
    return out


def _usage_tokens(usage: Any) -> tuple[int, int, int]:
    """(prompt, completion, cached prompt) tokens of a ``usage`` block; MalformedResponse when unusable."""
    if not isinstance(usage, dict):
        raise MalformedResponse(f"usage is a {_json_type(usage)}, not an object")
    details = usage.get("prompt_tokens_details")
    if details is not None and not isinstance(details, dict):
        raise MalformedResponse(f"usage.prompt_tokens_details is a {_json_type(details)}, not an object")
    pt = _token_count(usage, "prompt_tokens")
    ct = _token_count(usage, "completion_tokens")
    cached = _token_count(details or {}, "cached_tokens", "usage.prompt_tokens_details.")
    if cached > pt:
        raise MalformedResponse(f"usage reports {cached} cached of {pt} prompt tokens")
    return pt, ct, cached


def _token_count(block: dict[str, Any], name: str, where: str = "usage.") -> int:
    value = block.get(name)
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedResponse(f"{where}{name} is {json.dumps(value)[:40]}, not a non-negative integer")
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "list", str: "string", bool: "boolean", int: "number",
            float: "number"}.get(type(value), type(value).__name__)


_ATTEMPT_ERRORS = (openai.APIConnectionError, openai.APIStatusError, openai.APIResponseValidationError, ValueError,
                   TimeoutError)
"""What one attempt may raise that :meth:`LLMClient._classify` turns into an outcome (an SDK timeout is a
connection error; the per-attempt cap a TimeoutError; a body of the wrong shape a MalformedResponse)."""


def _http_timeout(cfg: LLMConfig) -> openai.Timeout:
    """The SDK/transport timeout: ``connect_timeout`` to connect, ``timeout`` for each other phase (the
    attempt as a whole is capped at ``timeout`` too, see :meth:`LLMClient._post`)."""
    return openai.Timeout(cfg.timeout, connect=min(cfg.connect_timeout or cfg.timeout, cfg.timeout))


class _LoopState:
    """Objects bound to one event loop (HTTP connection pools, semaphore).

    The HTTP clients are closed on their own loop when that loop shuts down: ``asyncio.run`` (and pytest's
    runners) finalise pending async generators before closing the loop, so a parked generator's ``finally``
    is the loop-close hook asyncio does not otherwise offer.
    """

    def __init__(self, cfg: LLMConfig, endpoints: list[_EndpointState]):
        self.semaphore = asyncio.Semaphore(cfg.max_concurrency)
        self.clients = [
            openai.AsyncOpenAI(base_url=e.endpoint.base_url, api_key=e.api_key, max_retries=0,
                               timeout=_http_timeout(cfg), **_http_client_kwargs(cfg))
            for e in endpoints
        ]
        self._closer = self._close_on_shutdown()

    async def start(self) -> None:
        await self._closer.__anext__()

    async def _close_on_shutdown(self):
        try:
            yield
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        for c in self.clients:
            try:
                await c.close()
            except Exception:  # closing is best effort
                pass


def _http_client_kwargs(cfg: LLMConfig) -> dict[str, Any]:
    """The aiohttp transport when available: at hundreds of concurrent requests httpx's pool costs about
    3x the CPU per request (bench/concurrency.py), and CPU is what a 2-core rollout box runs out of."""
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return {}
    # keep as many connections alive as the role may have in flight: the default keeps 100, so beyond that
    # every request opens a fresh TCP connection
    from openai._constants import DEFAULT_CONNECTION_LIMITS

    n = max(cfg.max_concurrency, 16)
    limits = type(DEFAULT_CONNECTION_LIMITS)(max_connections=n, max_keepalive_connections=n)
    return {"http_client": openai.DefaultAioHttpClient(timeout=_http_timeout(cfg), limits=limits)}


# ------------------------------------------------------------------ request bodies go out when they are sent
#
# aiohttp writes a request's body (and, coalesced with it, its headers) in a task of its own. From Python 3.12
# it starts that task eagerly, so the request leaves in the step that sends it; on 3.11 the task only runs once
# the event loop has worked through every callback that was ready before it. At hundreds of requests in flight
# the replies arrive in bursts, and then each request a burst sends waits for the whole burst to be processed
# (hundreds x the CPU per reply) before it leaves; its reply comes back in the next burst, and so every call
# costs the latency plus a whole burst (bench/data_labeller.py: 0.8 of the ideal throughput instead of > 0.9).
# A caller that owns its event loop and runs hundreds of calls on it (the data stages) can therefore give the
# loop, on 3.11, a task factory that starts aiohttp's body writer eagerly, as aiohttp itself does on 3.12+; every
# other task is created as before. It is opt-in (send_bodies_eagerly): loops owned by others (verl's agent
# loop workers, a user's notebook) are left alone.


def _aiohttp_write_bytes_code() -> Any:
    try:
        from aiohttp.client_reqrep import ClientRequest

        return ClientRequest.write_bytes.__code__
    except (ImportError, AttributeError):
        return None


@types.coroutine
def _go_on(coro: Any, pending: Any) -> Any:
    """Drive ``coro`` further, its first step already run (it yielded ``pending``); the task driving this
    generator resumes it exactly as it would have resumed ``coro`` (``send(None)``, or a thrown cancel)."""
    while True:
        try:
            yield pending
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - a cancel thrown into the task: hand it on
            try:
                pending = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
            continue
        return (yield from coro)


async def _eager_rest(coro: Any, pending: Any) -> Any:
    return await _go_on(coro, pending)


def _eager_body_writes(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> "asyncio.Future[Any]":
    """Task factory: aiohttp's request body writer runs its first step now (in the task's own context), the
    rest as a task; any other coroutine becomes a task as usual."""
    if getattr(coro, "cr_code", None) is not _WRITE_BYTES or _WRITE_BYTES is None:
        return asyncio.Task(coro, loop=loop, **kwargs)
    context = kwargs.pop("context", None)
    if context is None:
        context = contextvars.copy_context()
    try:
        pending = context.run(coro.send, None)
    except StopIteration as stop:  # written in one go: a finished future, as an eager task would be
        done = loop.create_future()
        done.set_result(stop.value)
        return done
    except BaseException as exc:  # noqa: BLE001 - the writer's own failure, kept for whoever awaits it
        done = loop.create_future()
        done.set_exception(exc)
        return done
    return asyncio.Task(_eager_rest(coro, pending), loop=loop, context=context, **kwargs)


_WRITE_BYTES = _aiohttp_write_bytes_code() if sys.version_info < (3, 12) else None


def send_bodies_eagerly(loop: asyncio.AbstractEventLoop) -> bool:
    """Install :func:`_eager_body_writes` on ``loop``, a loop the caller owns (Python < 3.12, aiohttp's writer
    found, no factory of its own); returns whether it is in place. Without it everything works, only slower at
    hundreds of requests in flight."""
    if _WRITE_BYTES is not None and loop.get_task_factory() is None:
        loop.set_task_factory(_eager_body_writes)
    return loop.get_task_factory() is _eager_body_writes


def _refused(exc: BaseException) -> bool:
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 6:
        if isinstance(cur, ConnectionRefusedError):
            return True
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return False


def _retry_after_seconds(exc: openai.APIStatusError) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    for name in ("retry-after-ms", "retry-after"):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw)
            return value / 1000 if name.endswith("ms") else value
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(raw)
                return max(when.timestamp() - time.time(), 0.0)
            except (TypeError, ValueError):
                continue
    return None


def _close_soon(loop_ref: "weakref.ref[asyncio.AbstractEventLoop]", state: _LoopState) -> None:
    loop = loop_ref()
    if loop is None or loop.is_closed() or not loop.is_running():
        return  # a closed loop already finalised the state (see _LoopState)
    try:
        loop.call_soon_threadsafe(lambda: loop.create_task(state.aclose()))
    except RuntimeError:  # the loop closed meanwhile
        pass


class LLMClient:
    """Async chat client for one role. Safe to share across episodes and event loops."""

    def __init__(self, config: LLMConfig | dict[str, Any], *, role: str | None = None, meter: UsageMeter | None = None):
        self.config = LLMConfig.coerce(config, role=role)
        self.role = self.config.role
        self.meter = meter
        self._endpoints = [
            _EndpointState(e, resolve_api_key(e.api_key_env, self.role)) for e in self.config.resolved_endpoints()
        ]
        if self.config.structured_output in ("none", "json_object"):
            for e in self._endpoints:
                e.schema_supported = False
        self._loops: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState]" = weakref.WeakKeyDictionary()
        self._rr = 0
        self.cache = open_cache(self.config.cache_path) if self.config.cache_path else None

    # ------------------------------------------------------------------ plumbing

    async def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        st = self._loops.get(loop)
        if st is None:
            st = self._loops[loop] = _LoopState(self.config, self._endpoints)
            await st.start()
            # a client dropped while its loop keeps running (e.g. a judge replaced mid-run) closes its pools
            # then, instead of leaving aiohttp sessions to the garbage collector
            weakref.finalize(self, _close_soon, weakref.ref(loop), st)
        return st

    def _pick(self) -> int:
        """Least outstanding requests (divided by weight); ties broken round-robin."""
        n = len(self._endpoints)
        self._rr = (self._rr + 1) % n
        order = [(self._rr + k) % n for k in range(n)]
        return min(order, key=lambda i: self._endpoints[i].outstanding / self._endpoints[i].endpoint.weight)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        cfg = self.config
        delay = min(cfg.backoff_max, cfg.backoff_base * (2 ** attempt)) * (0.5 + random.random())
        if retry_after is not None:
            delay = max(delay, min(retry_after, cfg.max_retry_after))
        return delay

    def _record(self, meter: UsageMeter | None, **counts: float) -> None:
        record(self.role, meter if meter is not None else self.meter, **counts)
        if meter is not None and self.meter is not None and meter is not self.meter:
            record(self.role, self.meter, **counts)

    def request_body(self, messages: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
        """The request fields (without model/response_format) after role defaults and overrides."""
        body = {**self.config.sampling(), **{k: v for k, v in overrides.items() if v is not None}}
        return body

    async def _send(self, messages: list[dict[str, Any]], body: dict[str, Any], response_format: dict | None,
                    meter: UsageMeter | None) -> LLMResponse:
        """One logical request with retries (the retry policy). Raises LLMError."""
        retries = self.config.retries
        state = await self._state()
        failed: _Failed | None = None
        attempt = attempts = 0
        while attempt <= retries:
            idx = self._pick()
            attempts += 1
            outcome = await self._attempt(state, idx, messages, body, response_format, meter, attempts)
            if outcome is None:
                continue  # the endpoint does not take json_schema; asking again without it is not a retry
            if isinstance(outcome, LLMResponse):
                outcome.attempts = attempts
                return outcome
            failed = outcome
            if attempt >= retries:
                break
            await self._before_retry(attempt, failed, self._endpoints[idx], meter)
            attempt += 1
        self._record(meter, failures=1)
        if failed is None:
            raise LLMError("connection", "no attempt made", attempts=attempts)
        raise LLMError(failed.kind, _short(failed.exc), attempts=attempts)

    async def _before_retry(self, attempt: int, failed: _Failed, ep: _EndpointState,
                            meter: UsageMeter | None) -> None:
        """Log and count the retry, then wait out the backoff (with jitter, at least ``Retry-After``)."""
        delay = self._backoff(attempt, failed.retry_after)
        log.warning("%s: %s from %s (attempt %d/%d); retrying in %.2fs", self.role, failed.kind,
                    ep.endpoint.base_url, attempt + 1, self.config.retries + 1, delay)
        self._record(meter, retries=1)
        await asyncio.sleep(delay)

    async def _attempt(self, state: _LoopState, idx: int, messages: list[dict[str, Any]], body: dict[str, Any],
                       response_format: dict | None, meter: UsageMeter | None,
                       attempts: int) -> LLMResponse | _Failed | None:
        """Send the request once to endpoint ``idx`` and classify the outcome: the response, a retryable
        failure, or None when the endpoint just refused response_format json_schema (ask again without it).
        Raises LLMError for a request no server will accept."""
        ep = self._endpoints[idx]
        kwargs, rf = self._attempt_fields(ep, body, response_format)
        ep.outstanding += 1
        try:
            completion = parse_completion(await self._post(state, idx, messages, kwargs))
        except _ATTEMPT_ERRORS as e:
            return self._classify(e, ep, rf, meter, attempts)
        finally:
            ep.outstanding -= 1
        if rf is not None and rf.get("type") == "json_schema":
            ep.schema_supported = True
        return self._response(completion, ep, meter)

    def _attempt_fields(self, ep: _EndpointState, body: dict[str, Any],
                        response_format: dict | None) -> tuple[dict[str, Any], dict | None]:
        """The request fields for ``ep`` (extra_body merged in) and the response_format it gets: json_schema
        falls back to json_object or none on an endpoint known to reject it."""
        cfg = self.config
        rf = response_format
        if rf is not None and rf.get("type") == "json_schema" and ep.schema_supported is False:
            rf = {"type": "json_object"} if cfg.structured_output == "json_object" else None
        kwargs: dict[str, Any] = dict(body)
        if rf is not None:
            kwargs["response_format"] = rf
        if cfg.extra_body:
            kwargs.update(copy.deepcopy(cfg.extra_body))
        return kwargs, rf

    async def _post(self, state: _LoopState, idx: int, messages: list[dict[str, Any]],
                    kwargs: dict[str, Any]) -> Any:
        """POST one chat completion to endpoint ``idx``; the decoded JSON body (its shape unchecked). Raises
        the SDK's errors, TimeoutError past ``timeout`` in all, MalformedResponse for a body that is not JSON."""
        cfg = self.config
        async with state.semaphore:
            # the SDK's documented raw-request path: same transport, errors and retries-off as
            # chat.completions.create, without its per-request TypedDict transform and pydantic
            # response model, which cost ~3x the CPU (bench/concurrency.py at hundreds in flight).
            # The transport's timeouts are per phase (a server trickling bytes never trips the read
            # timeout); asyncio.timeout caps the whole attempt, so `timeout` is what one attempt can cost.
            async with asyncio.timeout(cfg.timeout):
                raw = await state.clients[idx].post(
                    "/chat/completions",
                    body={"model": self._endpoints[idx].endpoint.model or cfg.model, "messages": messages,
                          **kwargs},
                    cast_to=str,
                    options={"timeout": _http_timeout(cfg)},
                )
        try:
            return json.loads(raw)
        except (TypeError, ValueError) as e:
            raise MalformedResponse(f"the body is not JSON: {str(raw)[:200]!r}") from e

    def _classify(self, exc: Exception, ep: _EndpointState, rf: dict | None, meter: UsageMeter | None,
                  attempts: int) -> _Failed | None:
        """Which failure an attempt's error is (see :meth:`_attempt`); raises LLMError('bad_request')."""
        if isinstance(exc, openai.APITimeoutError):
            # the aiohttp transport reports a refused connection as a connect *timeout*; look at the cause
            return _Failed("connection" if _refused(exc) else "timeout", exc)
        if isinstance(exc, TimeoutError):  # the per-attempt cap (see _post)
            return _Failed("timeout", TimeoutError(f"no complete reply within {self.config.timeout:g}s"))
        if isinstance(exc, openai.APIConnectionError):
            return _Failed("connection", exc)
        if isinstance(exc, openai.RateLimitError):
            return _Failed("rate_limited", exc, _retry_after_seconds(exc))
        if isinstance(exc, (MalformedResponse, openai.APIResponseValidationError)):
            # a 200 that is not a chat completion: a server fault like a 5xx (retried, then flagged)
            log.warning("%s: malformed reply from %s: %s", self.role, ep.endpoint.base_url, _short(exc))
            self._record(meter, malformed=1)
            return _Failed("malformed_response", exc)
        if not isinstance(exc, openai.APIStatusError):  # anything else an attempt raised
            return _Failed("server_error", exc)
        if exc.status_code >= 500 or exc.status_code in (408, 409):
            return _Failed("server_error", exc, _retry_after_seconds(exc))
        if rf is not None and rf.get("type") == "json_schema" and exc.status_code in (400, 404, 422, 501):
            # the server does not take response_format json_schema: fall back to prompt-only JSON
            log.info("%s: endpoint %s rejected response_format (%s); using prompt-only JSON",
                     self.role, ep.endpoint.base_url, exc.status_code)
            ep.schema_supported = False
            return None
        self._record(meter, failures=1)
        raise LLMError("bad_request", f"HTTP {exc.status_code}: {_short(exc)}", attempts=attempts) from exc

    def _response(self, c: Completion, ep: _EndpointState, meter: UsageMeter | None) -> LLMResponse:
        """The LLMResponse of a checked chat completion; its usage and cost recorded."""
        pt, ct, cached_pt = c.prompt_tokens, c.completion_tokens, c.cached_prompt_tokens
        if c.usage_error:
            log.warning("%s: unusable usage from %s (%s); counting its tokens as 0", self.role,
                        ep.endpoint.base_url, c.usage_error)
            self._record(meter, malformed_usage=1)
        self._record(meter, calls=1, prompt_tokens=pt, completion_tokens=ct, cached_prompt_tokens=cached_pt,
                     cost=self.config.price.cost(pt, ct, cached_pt))
        return LLMResponse(text=c.text, prompt_tokens=pt, completion_tokens=ct, endpoint=ep.endpoint.base_url,
                           finish_reason=c.finish_reason, meta={"tool_calls": c.tool_calls} if c.tool_calls else {},
                           usage_error=c.usage_error)

    def _sample_request(self, messages: list[dict[str, Any]], schema: Any, sample: int,
                        overrides: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The request fields of sample ``sample`` (its seed offset by it) and their cache key (None: no cache)."""
        body = self.request_body(messages, **overrides)
        if sample and "seed" in body:
            body["seed"] = int(body["seed"]) + sample
        key = self._cache_key(messages, body, schema, sample) if self.cache is not None else None
        return body, key

    def _cache_key(self, messages: list[dict[str, Any]], body: dict[str, Any], schema: Any, sample: int) -> str:
        return canonical_key({"model": self.config.model, "messages": messages, "body": body,
                              "extra_body": self.config.extra_body, "schema": schema, "sample": sample})

    # ------------------------------------------------------------------ public API

    async def chat(self, messages: list[dict[str, Any]], *, sample: int = 0, meter: UsageMeter | None = None,
                   **overrides: Any) -> LLMResponse:
        """Plain text completion. ``sample`` distinguishes repeated samples (cache key, seed offset)."""
        body, key = self._sample_request(messages, None, sample, overrides)
        hit = self.cache.get(key) if key is not None else None
        if hit is not None:
            self._record(meter, cache_hits=1)
            return LLMResponse(text=hit["text"], cached=True, attempts=0, meta=hit.get("meta") or {},
                               prompt_tokens=hit.get("prompt_tokens", 0),
                               completion_tokens=hit.get("completion_tokens", 0))
        resp = await self._send(messages, body, None, meter)
        if key is not None:
            self.cache.put(key, {"text": resp.text, "meta": resp.meta, "prompt_tokens": resp.prompt_tokens,
                                 "completion_tokens": resp.completion_tokens})
        return resp

    async def chat_json(self, messages: list[dict[str, Any]], schema: dict[str, Any], *, schema_name: str = "output",
                        sample: int = 0, meter: UsageMeter | None = None, **overrides: Any) -> LLMResponse:
        """A completion that must be a JSON value valid for ``schema``; ``LLMResponse.data`` holds it.

        Uses response_format json_schema when the server supports it; always extracts and validates; re-asks
        at most ``config.reask`` times with the validation error. Raises LLMError('invalid_output') after that.
        """
        cfg = self.config
        body, key = self._sample_request(messages, schema, sample, overrides)
        cached = self._cached_json(key, schema, meter)
        if cached is not None:
            return cached
        rf = self._json_response_format(schema, schema_name)
        convo = list(messages)
        total_pt = total_ct = attempts = 0
        usage_error: str | None = None
        last_text = ""
        last_err = ""
        for ask in range(cfg.reask + 1):
            resp = await self._send(convo, body, rf, meter)
            total_pt += resp.prompt_tokens
            total_ct += resp.completion_tokens
            attempts += resp.attempts
            usage_error = usage_error or resp.usage_error
            last_text = resp.text
            try:
                data = parse_json_output(resp.text, schema)
            except JSONOutputError as e:
                last_err = str(e)
                if resp.finish_reason == "length":
                    last_err += " (the reply hit the token limit: answer more briefly)"
                if ask < cfg.reask:
                    self._record(meter, reasks=1)
                    convo = _reask_messages(messages, resp.text, last_err, schema)
                continue
            if key is not None:
                self.cache.put(key, {"text": resp.text})
            return LLMResponse(text=resp.text, data=data, prompt_tokens=total_pt, completion_tokens=total_ct,
                               attempts=attempts, reasks=ask, endpoint=resp.endpoint,
                               finish_reason=resp.finish_reason, usage_error=usage_error)
        self._record(meter, failures=1)
        raise LLMError("invalid_output", last_err or "invalid JSON", attempts=attempts, last_text=last_text)

    def _cached_json(self, key: str | None, schema: dict[str, Any], meter: UsageMeter | None) -> LLMResponse | None:
        """The cached answer under ``key`` when there is one and it is still valid for ``schema``."""
        hit = self.cache.get(key) if key is not None else None
        if hit is None:
            return None
        try:
            data = parse_json_output(hit["text"], schema)
        except JSONOutputError:
            return None
        self._record(meter, cache_hits=1)
        return LLMResponse(text=hit["text"], data=data, cached=True, attempts=0)

    def _json_response_format(self, schema: dict[str, Any], schema_name: str) -> dict[str, Any] | None:
        """The response_format ``structured_output`` asks for (json_schema may be downgraded per endpoint)."""
        if self.config.structured_output in ("json_schema", "auto"):
            return {"type": "json_schema", "json_schema": {"name": _schema_name(schema_name), "schema": schema,
                                                           "strict": False}}
        if self.config.structured_output == "json_object":
            return {"type": "json_object"}
        return None

    async def aclose(self) -> None:
        """Close the HTTP clients bound to the running event loop."""
        st = self._loops.pop(asyncio.get_running_loop(), None)
        if st is not None:
            await st.aclose()


def _reask_messages(messages: list[dict[str, Any]], reply: str, error: str,
                    schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation again, with the unusable reply and what was wrong with it."""
    return list(messages) + [
        {"role": "assistant", "content": reply[:4000]},
        {"role": "user", "content": (
            f"Your reply could not be used: {error}. Reply again with only one JSON object "
            f"that matches this JSON Schema, and nothing else:\n"
            f"{json.dumps(schema, separators=(',', ':'))}")},
    ]


def _schema_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in name)[:64] or "output"


def _short(exc: BaseException | None, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}" if exc is not None else ""
    return text if len(text) <= limit else text[:limit] + "..."


def build_client(llm: "LLMClient | LLMConfig | dict[str, Any] | str", role: str) -> LLMClient:
    """An LLMClient from a client (returned as is), a config, a plain dict (Hydra/YAML) or a preset.

    A string names a preset of ``conf/llm`` (``"vllm"``, ``"openai"``, ...) or a YAML file; a dict with a
    ``preset`` key starts from that preset and overrides its fields with the other keys.
    """
    if isinstance(llm, LLMClient):
        return llm
    if isinstance(llm, str):
        from .presets import load_preset

        return LLMClient(load_preset(llm, role=role))
    if isinstance(llm, LLMConfig):
        return LLMClient(LLMConfig.coerce(llm, role=role))
    if isinstance(llm, dict) or hasattr(llm, "keys"):
        data = dict(to_plain(llm))
        preset = data.pop("preset", None)
        if preset:
            from .presets import load_preset

            return LLMClient(load_preset(str(preset), role=data.pop("role", role), **data))
        return LLMClient(LLMConfig.coerce(data, role=role))
    raise TypeError(f"cannot build an LLM client for role {role!r} from {type(llm).__name__}")
