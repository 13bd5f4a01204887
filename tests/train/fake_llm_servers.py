"""Server managers standing in for verl's ``LLMServerClient`` in CPU tests (token in, token out)."""

from __future__ import annotations

import asyncio
from typing import Any

from verl.workers.rollout.llm_server import LLMServerClient
from verl.workers.rollout.replica import TokenOutput


class ScriptedServer:
    """Returns the token ids of chosen assistant texts (+ ``<|im_end|>``), one per call, per request id.

    With several scripts, the k-th request id seen follows script k (cycling); each walks its script.
    Records every call (request id, prompt ids, sampling params, returned ids).
    """

    def __init__(self, tokenizer: Any, script: list[str], *other_scripts: list[str]):
        self.tokenizer = tokenizer
        self.scripts = [list(script), *[list(s) for s in other_scripts]]
        self._script_of: dict[str, list[str]] = {}
        self.eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.calls: list[dict[str, Any]] = []
        self._pos: dict[str, int] = {}

    async def generate(self, request_id: str, *, prompt_ids: list[int], sampling_params: dict[str, Any], **kw):
        i = self._pos.get(request_id, 0)
        self._pos[request_id] = i + 1
        if request_id not in self._script_of:  # the k-th new request follows script k (cycling)
            self._script_of[request_id] = self.scripts[len(self._script_of) % len(self.scripts)]
        script = self._script_of[request_id]
        text = script[i] if i < len(script) else "Nothing more to do."
        ids = self.tokenizer.encode(text, add_special_tokens=False) + [self.eos_id]
        ids = ids[: int(sampling_params.get("max_tokens") or len(ids))]
        out = TokenOutput(token_ids=ids, log_probs=[-0.5] * len(ids), stop_reason="completed", num_preempted=0)
        self.calls.append({"request_id": request_id, "prompt_ids": list(prompt_ids), "params": dict(sampling_params),
                           "token_ids": list(ids), "kwargs": dict(kw)})
        return out


class HFServer:
    """Generates with a transformers causal LM on CPU.

    Each call forces an optional scripted prefix (so that episodes contain real tool calls), then samples
    ``free_tokens`` tokens from the model restricted to printable-ASCII vocabulary entries, then ends with
    ``<|im_end|>`` (the usual stop token). Everything after the prefix is genuine model sampling.
    """

    def __init__(self, model: Any, tokenizer: Any, prefixes: list[str] | None = None, free_tokens: int = 6,
                 seed: int = 0):
        import torch

        self.model = model
        self.tokenizer = tokenizer
        self.prefixes = list(prefixes or [])
        self.free_tokens = free_tokens
        self.eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.calls: list[dict[str, Any]] = []
        self._pos: dict[str, int] = {}
        self._gen = torch.Generator().manual_seed(seed)
        vocab = len(tokenizer)
        allowed = torch.zeros(vocab, dtype=torch.bool)
        special = set(tokenizer.all_special_ids)
        for tid in range(vocab):
            if tid in special:
                continue
            s = tokenizer.decode([tid])
            if s and all(32 <= ord(ch) < 127 for ch in s) and "<" not in s and ">" not in s:
                allowed[tid] = True
        self.allowed = allowed
        self._lock = asyncio.Lock()

    def _sample(self, prompt_ids: list[int], forced: list[int], max_tokens: int, temperature: float) -> tuple[list[int], list[float]]:
        import torch

        ids = list(prompt_ids)
        out: list[int] = []
        logps: list[float] = []
        budget = min(max_tokens, len(forced) + self.free_tokens + 1)
        with torch.no_grad():
            for step in range(budget):
                logits = self.model(torch.tensor([ids])).logits[0, -1].float()
                logp_all = torch.log_softmax(logits, -1)
                if step < len(forced):
                    tok = forced[step]
                elif step == budget - 1:
                    tok = self.eos_id
                else:
                    masked = logits.masked_fill(~self.allowed, float("-inf"))
                    if step >= len(forced) + 1:  # allow stopping once something was sampled
                        masked[self.eos_id] = logits[self.eos_id]
                    probs = torch.softmax(masked / max(temperature, 1e-3), -1)
                    tok = int(torch.multinomial(probs, 1, generator=self._gen))
                out.append(tok)
                logps.append(float(logp_all[tok]))
                ids.append(tok)
                if tok == self.eos_id:
                    break
        return out, logps

    async def generate(self, request_id: str, *, prompt_ids: list[int], sampling_params: dict[str, Any], **kw):
        i = self._pos.get(request_id, 0)
        self._pos[request_id] = i + 1
        prefix = self.prefixes[i] if i < len(self.prefixes) else ""
        forced = self.tokenizer.encode(prefix, add_special_tokens=False) if prefix else []
        async with self._lock:
            ids, logps = await asyncio.get_running_loop().run_in_executor(
                None, self._sample, list(prompt_ids), forced, int(sampling_params.get("max_tokens") or 64),
                float(sampling_params.get("temperature") or 1.0),
            )
        self.calls.append({"request_id": request_id, "prompt_ids": list(prompt_ids), "params": dict(sampling_params),
                           "token_ids": list(ids)})
        return TokenOutput(token_ids=ids, log_probs=logps, stop_reason="completed", num_preempted=0)


class VersionedServer:
    """A rollout server actor's ``generate`` as vLLM's answers it: every output reports the weight version it was
    served with (``extra_fields["global_steps"]``, what ``vLLMHttpServer.generate`` sets), and chosen calls are
    aborted (``stop_reason="aborted"``, the empty output a server returns when a request is aborted).

    ``steps[i]`` is the version for a request's i-th call (the last one repeats), so a multi-turn episode can span
    a weight update. ``abort`` maps the k-th request id seen to the call index to abort; ``abort_tokens`` of the
    scripted answer are returned with it (0: an empty output). Everything else is delegated to ``inner``.
    """

    def __init__(self, inner: Any, steps: list[int], abort: dict[int, int] | None = None, abort_tokens: int = 0):
        self.inner = inner
        self.steps = list(steps)
        self.abort = dict(abort or {})
        self.abort_tokens = abort_tokens
        self.calls: list[dict[str, Any]] = []
        self._pos: dict[str, int] = {}
        self._ordinal: dict[str, int] = {}

    async def generate(self, request_id: str, *, prompt_ids: list[int], sampling_params: dict[str, Any], **kw):
        i = self._pos.get(request_id, 0)
        self._pos[request_id] = i + 1
        k = self._ordinal.setdefault(request_id, len(self._ordinal))
        step = self.steps[min(i, len(self.steps) - 1)]
        if self.abort.get(k) == i:
            ids: list[int] = []
            if self.abort_tokens:
                full = await self.inner.generate(request_id, prompt_ids=prompt_ids, sampling_params=sampling_params)
                ids = list(full.token_ids)[: self.abort_tokens]
            out = TokenOutput(token_ids=ids, log_probs=[-0.5] * len(ids) if ids else None, stop_reason="aborted",
                              extra_fields={"global_steps": step})
        else:
            out = await self.inner.generate(request_id, prompt_ids=prompt_ids, sampling_params=sampling_params, **kw)
            out.extra_fields = {**out.extra_fields, "global_steps": step}
        self.calls.append({"request_id": request_id, "call": i, "step": step, "aborted": out.stop_reason == "aborted",
                           "token_ids": list(out.token_ids), "kwargs": dict(kw)})
        return out


class _RemoteMethod:
    def __init__(self, fn: Any):
        self._fn = fn

    def remote(self, *args: Any, **kwargs: Any):  # awaited by LLMServerClient like a Ray ObjectRef
        return self._fn(*args, **kwargs)


class _ServerHandle:
    def __init__(self, server: Any):
        self.generate = _RemoteMethod(server.generate)


class InProcessLLMServerClient(LLMServerClient):
    """verl's own ``LLMServerClient.generate`` (which stamps ``min_global_steps``/``max_global_steps`` on every
    output) in front of one in-process server; only the Ray plumbing (load balancer, actor handle) is replaced.

    The caller's request id is passed through (as verl does under ``full_determinism``) because the fake servers
    follow their scripts per request id; verl otherwise sends a fresh id per turn.
    """

    def __init__(self, config: Any, server: Any):
        super().__init__(config=config, load_balancer_handle=None)
        self.server = server
        self._handle = _ServerHandle(server)

    async def _acquire_server(self, request_id: str, **extra: Any):
        return "in-process-0", self._handle

    def _release_server(self, server_id: str, request_id: str | None = None) -> None:
        pass

    def _vllm_request_id(self, request_id: str) -> str:
        return request_id
