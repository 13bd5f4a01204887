"""A local Hugging Face checkpoint as the policy: transformers generation, no server.

``cm2 run --agent hf --agent-arg model=DIR [--agent-arg max_new_tokens=512 temperature=0.7 device=cuda ...]``
runs e.g. an SFT checkpoint on any env or benchmark on CPU or GPU.

* The prompt is the checkpoint's own chat template (``tokenizer.apply_chat_template``) over the env's
  observation with the task's tools passed as ``tools=`` (the tools of ``info["tools"]`` when the env reveals
  tools turn by turn) and ``add_generation_prompt=True``; ``template_kwargs`` are passed on (e.g.
  ``{"enable_thinking": false}``).
* The reply is the raw decoded text, special tokens such as ``<|im_end|>`` dropped as the RL agent loop
  decodes (``<think>``/``<tool_call>`` and their closers are kept even where the tokenizer marks them
  special): the env's parser turns ``<tool_call>`` blocks into calls and keeps the ``<think>`` reasoning in
  the recorded message. With ``history="raw"`` (default) the agent's own earlier replies are rendered back
  as the exact text the model generated (think and tool-call blocks included), as in the RL rollout stream;
  ``history="messages"`` renders the env's structured messages (``tool_calls`` with dict arguments) instead,
  as an OpenAI-compatible server would see them. Either way the template may still rewrite history (Qwen3's
  drops ``<think>`` of assistant turns before the last user message).
* Generation stops at the checkpoint's eos ids (generation config and tokenizer) and at ``<|im_end|>`` /
  ``<|endoftext|>`` when the vocabulary has them, or after ``max_new_tokens``.
* Context: the limit is ``max_length`` or else the model's ``max_position_embeddings``. A prompt that leaves no
  room raises :class:`ContextLengthExceeded`; the rollout records it as the episode's ``agent_error`` (no score)
  and the run goes on. When less than ``max_new_tokens`` is left, the reply is capped to what fits.
* Determinism: greedy by default (``temperature=0``); with sampling, each generation is seeded from
  ``(seed, episode seed, turn)``, so a run reproduces whatever the episode concurrency.
* Concurrency: the model is loaded once per (path, device, dtype) and shared by every episode's agent; the
  generations run one at a time on a dedicated worker thread, so the event loop (env steps, other episodes'
  tool calls and judges) keeps going while the model computes.
* Usage: each generation adds ``calls``, ``prompt_tokens`` and ``completion_tokens`` to the episode's
  ``policy`` usage.

A bad model directory (missing, no tokenizer, no chat template, weights that do not load) fails when the
agent is built, i.e. before any episode runs.
"""

from __future__ import annotations

import asyncio
import json
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cm2_env.llm.usage import record as record_usage
from cm2_env.tasks.models import Task

STOP_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>")
"""End-of-turn tokens added to the stop ids when the vocabulary has them."""
KEEP_TOKENS = ("<think>", "</think>", "<tool_call>", "</tool_call>")
"""Kept in the decoded reply even when a tokenizer marks them special (the env's parser needs them)."""


class ContextLengthExceeded(RuntimeError):
    """The rendered prompt leaves no room to generate within the model's context."""


@dataclass
class _Loaded:
    """One model + tokenizer shared by every agent of a run."""

    model: Any
    tokenizer: Any
    device: str
    max_length: int | None
    stop_ids: list[int]
    pad_id: int
    drop_ids: frozenset[int]
    """Special tokens left out of the decoded reply (eos, pad, <|im_start|>...; not KEEP_TOKENS)."""
    executor: ThreadPoolExecutor
    lock: threading.Lock


_MODELS: dict[tuple[str, str, str, str], _Loaded] = {}
_MODELS_LOCK = threading.Lock()


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _resolve_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "auto":
        if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    try:
        out = getattr(torch, dtype)
    except AttributeError:
        out = None
    if not isinstance(out, torch.dtype):
        raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {dtype!r}")
    return out


def _context_limit(model: Any, tokenizer: Any, max_length: int | None) -> int | None:
    if max_length is not None:
        return int(max_length)
    cfg = model.config
    text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    n = getattr(text_cfg, "max_position_embeddings", None)
    if isinstance(n, int) and n > 0:
        return n
    n = getattr(tokenizer, "model_max_length", None)
    return n if isinstance(n, int) and 0 < n < 10**8 else None  # transformers' "no limit" is a huge int


def _stop_ids(model: Any, tokenizer: Any) -> list[int]:
    ids: set[int] = set()
    for eos in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(eos, int):
            ids.add(eos)
        elif isinstance(eos, (list, tuple)):
            ids.update(int(e) for e in eos)
    vocab = tokenizer.get_vocab()
    ids.update(vocab[t] for t in STOP_TOKENS if t in vocab)
    return sorted(ids)


def _special_ids(tokenizer: Any) -> frozenset[int]:
    ids = set(tokenizer.all_special_ids)
    ids.update(i for i, t in getattr(tokenizer, "added_tokens_decoder", {}).items() if getattr(t, "special", False))
    vocab = tokenizer.get_vocab()
    return frozenset(ids - {vocab[t] for t in KEEP_TOKENS if t in vocab})


def _from_pretrained_dtype_kwarg() -> str:
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def load_model(model: str, device: str = "auto", dtype: str = "auto", max_length: int | None = None,
               trust_remote_code: bool = False) -> _Loaded:
    """Load (once per path/device/dtype) and check a checkpoint; raises ValueError with the reason."""
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ValueError(f"model directory {str(path)!r} does not exist (the hf agent runs local checkpoints "
                         f"only: --agent-arg model=DIR)")
    if not (path / "config.json").is_file():
        raise ValueError(f"{str(path)!r} has no config.json: not a Hugging Face model directory")
    device = _resolve_device(device)
    key = (str(path.resolve()), device, str(dtype), str(max_length))
    with _MODELS_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        except Exception as e:
            raise ValueError(f"cannot load the tokenizer of {str(path)!r}: {type(e).__name__}: {e}") from e
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"the tokenizer of {str(path)!r} has no chat template (tokenizer_config.json "
                             f"'chat_template' or chat_template.jinja); the hf agent renders prompts with it")
        torch_dtype = _resolve_dtype(dtype, device)
        try:
            net = AutoModelForCausalLM.from_pretrained(path, trust_remote_code=trust_remote_code,
                                                       **{_from_pretrained_dtype_kwarg(): torch_dtype})
        except Exception as e:
            raise ValueError(f"cannot load the model weights of {str(path)!r}: {type(e).__name__}: {e}") from e
        try:
            net.to(device)
        except Exception as e:
            raise ValueError(f"cannot place the model on device {device!r}: {type(e).__name__}: {e}") from e
        net.eval()
        stop = _stop_ids(net, tokenizer)
        if not stop:
            raise ValueError(f"{str(path)!r} defines no eos token (generation_config.json or tokenizer) and has "
                             f"none of {', '.join(STOP_TOKENS)}: generation would never stop")
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop[0]
        loaded = _Loaded(net, tokenizer, device, _context_limit(net, tokenizer, max_length), stop, pad,
                         _special_ids(tokenizer),
                         ThreadPoolExecutor(max_workers=1, thread_name_prefix="cm2-hf-agent"), threading.Lock())
        _MODELS[key] = loaded
        return loaded


def _args_as_dict(args: Any) -> Any:
    if isinstance(args, str):
        try:
            return json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            return args
    return args


def _call_with_dict_args(tc: Any) -> Any:
    if not (isinstance(tc, dict) and isinstance(tc.get("function"), dict)):
        return tc
    fn = tc["function"]
    return {**tc, "function": {**fn, "arguments": _args_as_dict(fn.get("arguments"))}}


class HFAgent:
    """A transformers checkpoint generating raw hermes/Qwen text. One agent per episode; the model is shared."""

    def __init__(self, model: str | None = None, max_new_tokens: int = 512, temperature: float = 0.0,
                 top_p: float = 1.0, top_k: int | None = None, repetition_penalty: float | None = None,
                 device: str = "auto", dtype: str = "auto", max_length: int | None = None, seed: int = 0,
                 history: str = "raw", template_kwargs: dict[str, Any] | None = None,
                 trust_remote_code: bool = False):
        if not model:
            raise ValueError("HFAgent needs a checkpoint directory: --agent-arg model=DIR")
        if history not in ("raw", "messages"):
            raise ValueError(f"history must be 'raw' or 'messages', got {history!r}")
        if int(max_new_tokens) < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens!r}")
        if float(temperature) < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature!r}")
        if template_kwargs is not None and not isinstance(template_kwargs, dict):
            raise ValueError(f"template_kwargs must be a JSON object, got {template_kwargs!r}")
        self.lm = load_model(model, device=device, dtype=dtype, max_length=max_length,
                             trust_remote_code=trust_remote_code)
        self.max_new_tokens = int(max_new_tokens)
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.top_k = top_k
        self.repetition_penalty = repetition_penalty
        self.base_seed = int(seed)
        self.history = history
        self.template_kwargs = dict(template_kwargs or {})
        self.tools: list[dict[str, Any]] = []
        self.episode_seed = 0
        self.turn = 0
        self._generated: list[str] = []  # the raw text of each reply, in order
        self.last_prompt_tokens = 0
        self.last_completion_tokens = 0

    def reset(self, task: Task, seed: int | None = None) -> None:
        self.tools = list(task.tools or [])
        self.episode_seed = seed if seed is not None else 0
        self.turn = 0
        self._generated = []

    # ------------------------------------------------------------------ prompt

    def messages_for(self, observation: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The chat-template input for ``observation``."""
        out: list[dict[str, Any]] = []
        # the env appends one assistant message per reply: the last len(_generated) assistant messages are
        # this agent's (earlier ones are e.g. a task's pre-filled history)
        positions = [i for i, m in enumerate(observation) if m.get("role") == "assistant"]
        mine = dict(zip(reversed(positions), reversed(self._generated))) if self.history == "raw" else {}
        for i, m in enumerate(observation):
            m = dict(m)
            if i in mine:
                out.append({"role": "assistant", "content": mine[i]})
                continue
            if m.get("role") == "assistant":
                if m.get("tool_calls"):  # HF chat templates expect arguments as a mapping
                    m["tool_calls"] = [_call_with_dict_args(tc) for tc in m["tool_calls"]]
                else:
                    m.pop("tool_calls", None)
            m["content"] = m.get("content") or ""
            out.append(m)
        return out

    def render(self, observation: list[dict[str, Any]]) -> list[int]:
        tok = self.lm.tokenizer
        text = tok.apply_chat_template(self.messages_for(observation), tools=self.tools or None,
                                       add_generation_prompt=True, tokenize=False, **self.template_kwargs)
        return list(tok(text, add_special_tokens=False)["input_ids"])

    # ------------------------------------------------------------------ generation

    def _generate(self, prompt_ids: list[int], max_new: int, seed: int) -> list[int]:
        import torch

        lm = self.lm
        sampling = self.temperature > 0
        kwargs: dict[str, Any] = {"do_sample": sampling, "max_new_tokens": max_new,
                                  "eos_token_id": lm.stop_ids, "pad_token_id": lm.pad_id}
        if sampling:
            kwargs.update(temperature=self.temperature, top_p=self.top_p)
            kwargs["top_k"] = self.top_k if self.top_k is not None else 0
        else:  # greedy: neutralise sampling knobs a checkpoint's generation_config may set
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if self.repetition_penalty is not None:
            kwargs["repetition_penalty"] = float(self.repetition_penalty)
        with lm.lock, torch.inference_mode():
            torch.manual_seed(seed)
            ids = torch.tensor([prompt_ids], dtype=torch.long, device=lm.device)
            out = lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
        return out[0, len(prompt_ids):].tolist()

    async def act(self, observation: list[dict[str, Any]], info: dict[str, Any]) -> str:
        self.tools = list(info.get("tools", self.tools) or [])
        loop = asyncio.get_running_loop()
        prompt = await loop.run_in_executor(self.lm.executor, self.render, observation)
        room = self.max_new_tokens if self.lm.max_length is None else min(self.max_new_tokens,
                                                                        self.lm.max_length - len(prompt))
        if room < 1:
            raise ContextLengthExceeded(f"prompt has {len(prompt)} tokens, the model's context is "
                                        f"{self.lm.max_length}: no room to generate (turn {self.turn + 1})")
        seed = zlib.crc32(f"{self.base_seed}:{self.episode_seed}:{self.turn}".encode())
        self.turn += 1
        new_ids = await loop.run_in_executor(self.lm.executor, self._generate, prompt, room, seed)
        # special tokens dropped as the RL agent loop decodes (skip_special_tokens), except the think/tool-call
        # tags: a checkpoint whose tokenizer marks <tool_call> special still reaches the env with its calls
        text = self.lm.tokenizer.decode([i for i in new_ids if i not in self.lm.drop_ids], skip_special_tokens=False)
        self.last_prompt_tokens, self.last_completion_tokens = len(prompt), len(new_ids)
        record_usage("policy", calls=1, prompt_tokens=len(prompt), completion_tokens=len(new_ids))
        self._generated.append(text)
        return text
