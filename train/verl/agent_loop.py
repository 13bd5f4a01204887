"""VeRL agent loop that plays one cm2 episode per rollout.

Selected per dataset row by ``agent_name == "cm2_env"`` (see ``train/verl/agent_loops.yaml``; ``python -m
train.grpo`` registers that file with verl). Each rollout is a small state machine, modelled on verl's own
``ToolAgentLoop`` (one async handler per :class:`AgentState`, all state in one :class:`EpisodeData`):

* ``PENDING``: build the cm2 env named by the row (``extra_info.env_id`` / ``extra_info.env_kwargs``, merged
  over the trainer config's ``cm2.env_id`` / ``cm2.env_kwargs``), reset it on ``extra_info.task_id`` with a
  group key shared by all rollouts of the same prompt (verl's per-prompt ``uid``), so that stateful or
  memoising simulators answer a group consistently, and render the env's first observation (system + first
  user message) and the task's tools with the model's chat template (verl's Continuous Token builder, the
  same path as verl's ``ToolAgentLoop``);
* ``GENERATING``: ``server_manager.generate``; the generated tokens get ``response_mask`` 1. A generation the
  server aborted (``stop_reason == "aborted"``, e.g. a replica leaving rotation for a weight sync) or that came
  back empty ends the episode: its tokens are dropped and nothing is sent to the env;
* ``STEPPING``: ``env.astep(decoded text)``;
* ``OBSERVING``: the observation the env appended (tool results, the next user message) is rendered with the
  chat template as the delta after the conversation so far and gets ``response_mask`` 0;
* ``TERMINATED``: the env terminated/truncated the episode, the response budget (``rollout.response_length``)
  is spent, ``multi_turn.max_assistant_turns`` / ``max_user_turns`` is reached, a generation was aborted, or
  the opening prompt is longer than ``data.max_prompt_length`` (then nothing is generated). The outcome is the
  env's :class:`~cm2_env.records.EpisodeSummary`: ``env.summary`` when the env ended the episode, else
  ``env.afinish("trainer_<stop reason>")``, which scores the episode as it stands (unreached turns score 0).

The loop returns ``AgentLoopOutput`` with ``reward_score`` = the env's checklist trajectory score, which verl
puts on the last response token (``rm_scores``) without calling any reward function. The response ends at the
last policy token (context appended after it — e.g. a user message the model never answered — is cut off), so
the score sits on a token the policy generated; a sample without any (prompt too long, first generation
aborted) gets one placeholder token with ``response_mask`` 0. ``extra_fields`` carries what the rollout server
reported (``global_steps``, ``min_global_steps``/``max_global_steps`` — the weight versions verl's v1 trainer
tags each trajectory with — speculative-decoding counts, ...), merged over turns as verl's ``ToolAgentLoop``
does, beside the loop's own keys.

Token/text agreement: ``prompt_ids + response_ids`` equal the tokenizer's chat-template rendering of the
conversation in which each assistant message is the raw text the model generated (the text the env parsed),
minus the template's trailing newline after the final ``<|im_end|>``. Caveat — templates that rewrite
history (Qwen3 drops the ``<think>`` block of assistant messages before the last user message) render a
*different* text for the whole conversation than the rollout's token stream, in which earlier thinking stays
(the model saw it while acting). Training on the rollout stream is the on-policy choice; see the README.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import logging
import numbers
import os
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterator
from uuid import uuid4

from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopOutput, register

try:  # the speculative-decoding counters verl's ToolAgentLoop sums over turns
    from verl.experimental.agent_loop.tool_agent_loop import SPEC_DECODE_EXTRA_KEYS
except ImportError:  # pragma: no cover - older/newer verl layouts
    SPEC_DECODE_EXTRA_KEYS = ("spec_num_draft_tokens", "spec_num_accepted_tokens", "spec_num_verify_steps")

from cm2_env.config import to_plain
from cm2_env.records import EpisodeSummary
from cm2_env.types import VERDICT_STATUSES

from . import AGENT_NAME

logger = logging.getLogger(__name__)
logger.setLevel(os.getenv("VERL_LOGGING_LEVEL", "WARN"))

DEFAULT_ENV_ID = "cm2/ToolTask-v0"


# ---------------------------------------------------------------------------------------- env helpers


@functools.lru_cache(maxsize=64)
def tasks_by_id(source: str) -> dict[str, Any]:
    """All tasks of a suite name or task file, by id — parsed and validated once per process."""
    from cm2_env.tasks import resolve_tasks

    return {t.id: t for t in resolve_tasks(source)}


def make_env(env_id: str, task_id: str | None = None, **kwargs: Any):
    """Build the unwrapped cm2 env for ``env_id`` through the cm2 registry (``envs_registry.yaml``).

    With a ``task_id`` and ``tasks`` given as a suite name / file path, the env is built over that one task
    (taken from a per-process cache), so a rollout never re-reads or re-validates a task file.
    """
    import cm2_env

    source = kwargs.get("tasks")
    shared = shared_env_kwargs(env_id, kwargs)
    if task_id is not None and isinstance(source, str):
        task = tasks_by_id(source).get(task_id)
        if task is not None:
            shared = {**shared, "tasks": [task]}
    env = cm2_env.make(env_id, **shared)
    return getattr(env, "unwrapped", env)


_SHARED_KWARGS: dict[str, dict[str, Any]] = {}


def shared_env_kwargs(env_id: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Env kwargs with the tool backend, user and judge built once per worker process and config.

    The rollouts of a GRPO group run in different env instances; sharing the backend instances is what makes
    the LLM tool simulator's group memo (and one HTTP pool per role) work across them.
    """
    from cm2_env.envs import with_shared_backends

    key = json.dumps([env_id, kwargs], sort_keys=True, default=str)
    if key not in _SHARED_KWARGS:
        _SHARED_KWARGS[key] = with_shared_backends(env_id, **kwargs)
    return _SHARED_KWARGS[key]


def group_key_for(kwargs: dict[str, Any]) -> str:
    """The key shared by the rollouts of one prompt: verl's per-prompt ``uid``, else the row index."""
    uid = kwargs.get("uid")
    if uid is not None:
        return str(to_plain(uid))
    extra = kwargs.get("extra_info") or {}
    for key in ("group_key", "index"):
        if extra.get(key) is not None:
            return f"{key}-{to_plain(extra[key])}"
    if kwargs.get("index") is not None:
        return f"index-{to_plain(kwargs['index'])}"
    return f"solo-{uuid4().hex}"


def seed_for(group_key: str) -> int:
    """A stable 31-bit seed from the group key: rollouts of one group see identically seeded simulators."""
    return int.from_bytes(hashlib.sha256(group_key.encode()).digest()[:4], "big") & 0x7FFFFFFF


@contextlib.contextmanager
def _timed(metrics: dict[str, Any], key: str) -> Iterator[None]:
    """Add the wall time of the block to ``metrics[key]`` (verl's per-rollout timing metrics)."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        metrics[key] += time.perf_counter() - t0


# ---------------------------------------------------------------------------------------- rollout state


class AgentState(Enum):
    PENDING = "pending"
    """Build and reset the env, render the initial prompt."""
    GENERATING = "generating"
    """Ask the rollout server for the next assistant message."""
    STEPPING = "stepping"
    """Play the decoded message in the env."""
    OBSERVING = "observing"
    """Append the env's new messages to the token stream (mask 0)."""
    TERMINATED = "terminated"


@dataclass
class EpisodeData:
    """Everything one rollout carries between states (verl's ``AgentData`` for a cm2 episode)."""

    env_id: str
    env_kwargs: dict[str, Any]
    task_id: str
    group_key: str
    sampling_params: dict[str, Any]
    request_id: str = field(default_factory=lambda: uuid4().hex)
    priority: int = 0
    """verl's per-sample scheduling priority (forwarded to the rollout server)."""
    global_steps: int | None = None
    """The trainer step the sample was drawn at (v1 trainer: the row's ``global_steps``), when given."""
    server_extra_fields: dict[str, Any] = field(default_factory=dict)
    """What the rollout server reported with its generations, merged over turns like verl's ToolAgentLoop."""
    metrics: dict[str, Any] = field(default_factory=lambda: {"generate_sequences": 0.0, "tool_calls": 0.0})
    num_preempted: int = -1
    """Preemptions reported by the server (-1: not reported)."""
    env: Any = None
    tools: list[dict[str, Any]] | None = None
    """The tools the prompt was rendered with."""
    messages: list[dict[str, Any]] = field(default_factory=list)
    """The conversation as tokenized: the env's messages, each assistant message being the raw generated text."""
    runtime_ids: list[int] = field(default_factory=list)
    """Prompt + response token ids so far."""
    response_mask: list[int] = field(default_factory=list)
    response_logprobs: list[float] = field(default_factory=list)
    assistant_turns: int = 0
    user_turns: int = 0
    turn_token_ends: list[int] = field(default_factory=list)
    """Response-token index of the last policy token of each judged turn."""
    segments: list[list[int]] = field(default_factory=list)
    """``[turn, message index in the turn, start, end)`` response-token span of each generated message (for
    the step-level advantage: verdicts name the message that satisfied an item)."""
    text: str = ""
    """The last generated message, decoded (what the env parses)."""
    observation: list[dict[str, Any]] = field(default_factory=list)
    """The env's full conversation after the last step."""
    new_messages: list[dict[str, Any]] = field(default_factory=list)
    """What the last step appended after the assistant message."""
    stop_reason: str = "env"
    """``env`` when the env ended the episode, else the trainer limit that stopped it (``response_length``,
    ``max_assistant_turns``, ``max_user_turns``, ``no_observation``, ``aborted``, ``empty_generation``,
    ``prompt_too_long``)."""
    prompt_tokens: int = 0
    """Tokens of the rendered opening prompt."""
    summary: EpisodeSummary | None = None

    def stop(self, reason: str) -> AgentState:
        self.stop_reason = reason
        return AgentState.TERMINATED

    @property
    def aborted(self) -> bool:
        """The server aborted a generation or returned none: the episode ended without the model's action."""
        return self.stop_reason in ("aborted", "empty_generation")

    @property
    def prompt_too_long(self) -> bool:
        return self.stop_reason == "prompt_too_long"

    def last_policy_token(self) -> int:
        """Response index of the last generated token (-1: none yet)."""
        for i in range(len(self.response_mask) - 1, -1, -1):
            if self.response_mask[i]:
                return i
        return -1

    def mark_turn_end(self) -> None:
        self.turn_token_ends.append(self.last_policy_token())

    def merge_server_extra_fields(self, extra: dict[str, Any] | None) -> None:
        """Keep the server's ``extra_fields`` as verl's ToolAgentLoop does: the first generation's values, the
        latest (highest) ``max_global_steps``, and the speculative-decoding counters summed over turns."""
        extra = dict(extra or {})
        if not self.server_extra_fields:
            self.server_extra_fields.update(extra)
            return
        new_max = extra.get("max_global_steps")
        if new_max is not None:
            old_max = self.server_extra_fields.get("max_global_steps")
            self.server_extra_fields["max_global_steps"] = new_max if old_max is None else max(old_max, new_max)
        for key in SPEC_DECODE_EXTRA_KEYS:
            if key in extra and key in self.server_extra_fields:
                self.server_extra_fields[key] = int(self.server_extra_fields[key]) + int(extra[key])


# ---------------------------------------------------------------------------------------- the loop


@register(AGENT_NAME)
class CM2AgentLoop(AgentLoopBase):
    """Runs a cm2 ``ToolTaskEnv`` episode against the policy served by verl's rollout servers."""

    def __init__(self, *args: Any, tools: Any = None, **kwargs: Any):
        # ``tools`` (verl's global tool list) is ignored: the env owns the task's tools.
        super().__init__(*args, **kwargs)
        multi_turn = self.rollout_config.multi_turn
        self.max_assistant_turns = multi_turn.get("max_assistant_turns")
        self.max_user_turns = multi_turn.get("max_user_turns")
        self.response_length = int(self.rollout_config.response_length)
        self.max_prompt_length = _prompt_limit(self.config, self.rollout_config)
        self.full_determinism = bool(self.rollout_config.get("full_determinism", False))
        cm2_cfg = self.config.get("cm2") or {}
        self.default_env_id = cm2_cfg.get("env_id") or DEFAULT_ENV_ID
        self.default_env_kwargs = to_plain(cm2_cfg.get("env_kwargs") or {})
        self.record_messages = bool(cm2_cfg.get("record_messages", False))
        self.stop_token_ids = self._token_ids(cm2_cfg.get("stop_tokens") or [])
        self._generate_takes_priority = _accepts_kwarg(self.server_manager.generate, "priority")
        self._handlers = {
            AgentState.PENDING: self._handle_pending,
            AgentState.GENERATING: self._handle_generating,
            AgentState.STEPPING: self._handle_stepping,
            AgentState.OBSERVING: self._handle_observing,
        }

    def _token_ids(self, tokens: list[str]) -> list[int]:
        """Ids of the tokens the tokenizer knows (unknown ones are dropped)."""
        unk = getattr(self.tokenizer, "unk_token_id", None)
        ids = []
        for tok in tokens:
            tid = self.tokenizer.convert_tokens_to_ids(tok)
            if isinstance(tid, int) and tid >= 0 and tid != unk:
                ids.append(tid)
        return ids

    async def run(self, sampling_params: dict[str, Any], priority: int = 0, **kwargs: Any) -> AgentLoopOutput:
        # priority may arrive as np.int64 from the non-tensor batch (verl's SingleTurnAgentLoop does the same)
        data = self._episode_data(sampling_params, int(priority), kwargs)
        try:
            state = AgentState.PENDING
            while state != AgentState.TERMINATED:
                state = await self._handlers[state](data)
            data.summary = await self._final_summary(data)
        finally:
            _close(data.env)
        data.metrics["num_preempted"] = data.num_preempted
        return self._build_output(data, data.summary)

    def _episode_data(self, sampling_params: dict[str, Any], priority: int, kwargs: dict[str, Any]) -> EpisodeData:
        extra_info = to_plain(kwargs.get("extra_info") or {})
        env_id = extra_info.get("env_id") or self.default_env_id
        row_kwargs = to_plain(extra_info.get("env_kwargs") or {})
        if isinstance(row_kwargs, str):  # `cm2 data to-verl` stores them as JSON text (parquet-friendly)
            row_kwargs = json.loads(row_kwargs) if row_kwargs.strip() else {}
        task_id = extra_info.get("task_id")
        if not task_id:
            raise ValueError("cm2 agent loop: the dataset row has no extra_info.task_id (build it with `cm2 data to-verl`)")
        global_steps = to_plain(kwargs.get("global_steps"))
        return EpisodeData(
            env_id=str(env_id),
            env_kwargs={**self.default_env_kwargs, **row_kwargs},
            task_id=str(task_id),
            group_key=group_key_for(kwargs),
            sampling_params=dict(sampling_params),
            # verl's loops: a stable id under rollout.full_determinism, else a fresh one per rollout
            request_id=f"det-{priority}" if self.full_determinism else uuid4().hex,
            priority=priority,
            global_steps=int(global_steps) if isinstance(global_steps, numbers.Real) and not isinstance(
                global_steps, bool) else None,
        )

    # ------------------------------------------------------------------ state handlers

    async def _handle_pending(self, data: EpisodeData) -> AgentState:
        """Build the env over the row's task, reset it and render the opening messages as the prompt."""
        source = data.env_kwargs.get("tasks")
        if isinstance(source, str):  # first use in this process parses the task file: keep the loop free
            await self.loop.run_in_executor(None, tasks_by_id, source)
        data.env = make_env(data.env_id, data.task_id, **data.env_kwargs)
        options = {"task_id": data.task_id, "group_key": data.group_key}
        with _timed(data.metrics, "tool_calls"):
            obs, _info = await data.env.areset(seed=seed_for(data.group_key), options=options)
        data.tools = list(data.env.tools) or None
        data.messages = list(obs)
        data.runtime_ids = await self._initial_tokens(list(obs), data.tools)
        data.prompt_tokens = len(data.runtime_ids)
        if self.max_prompt_length is not None and data.prompt_tokens > self.max_prompt_length:
            # Never cut the prompt silently: the episode ends unplayed, scored as it stands (0), flagged.
            logger.warning(
                "cm2 task %s: the opening prompt has %d tokens > data.max_prompt_length=%d; the episode is not "
                "played (reward 0, reward_extra_info.cm2_prompt_too_long=1). Raise data.max_prompt_length or "
                "drop the task.", data.task_id, data.prompt_tokens, self.max_prompt_length,
            )
            return data.stop("prompt_too_long")
        return AgentState.GENERATING

    async def _handle_generating(self, data: EpisodeData) -> AgentState:
        """Generate the next assistant message within the remaining response budget."""
        remaining = self.response_length - len(data.response_mask)
        if remaining <= 0:
            return data.stop("response_length")
        if self.max_assistant_turns and data.assistant_turns >= self.max_assistant_turns:
            return data.stop("max_assistant_turns")
        extra = {"priority": data.priority} if self._generate_takes_priority else {}
        with _timed(data.metrics, "generate_sequences"):
            output = await self.server_manager.generate(
                request_id=data.request_id,
                prompt_ids=data.runtime_ids,
                sampling_params=self._sampling_params(data.sampling_params, remaining),
                **extra,
            )
        if output.num_preempted is not None:
            data.num_preempted = max(data.num_preempted, 0) + int(output.num_preempted)
        data.merge_server_extra_fields(getattr(output, "extra_fields", None))
        token_ids = list(output.token_ids)[:remaining]
        if output.stop_reason == "aborted" or not token_ids:
            # An aborted (possibly partial) or empty generation is not the model's action: never send it to the
            # env, drop its tokens, and end the episode (scored as it stands by env.afinish).
            reason = "aborted" if output.stop_reason == "aborted" else "empty_generation"
            logger.warning("cm2 task %s: generation %d %s (%d tokens dropped); ending the episode",
                           data.task_id, data.assistant_turns + 1, reason, len(token_ids))
            return data.stop(reason)
        logprobs = list(output.log_probs)[: len(token_ids)] if output.log_probs else None
        start = len(data.response_mask)
        await self._merge_assistant(data, token_ids, logprobs)
        data.segments.append([*_message_position(data.env.messages), start, len(data.response_mask)])
        data.assistant_turns += 1
        data.text = self.tokenizer.decode(token_ids, skip_special_tokens=True)
        data.messages.append({"role": "assistant", "content": data.text})
        return AgentState.STEPPING

    async def _handle_stepping(self, data: EpisodeData) -> AgentState:
        """Play the generated text in the env; the episode ends here when the env ends it."""
        with _timed(data.metrics, "tool_calls"):
            obs, _reward, terminated, truncated, info = await data.env.astep(data.text)
        if "turn_result" in info:  # the step ended (and judged) a turn
            data.mark_turn_end()
        if terminated or truncated:
            return data.stop("env")
        if len(data.response_mask) >= self.response_length:
            return data.stop("response_length")
        data.observation = list(obs)
        data.new_messages = list(info["new_messages"])
        return AgentState.OBSERVING

    async def _handle_observing(self, data: EpisodeData) -> AgentState:
        """Append the env's new messages (tool results, the next user message) as context tokens."""
        new_messages = data.new_messages
        if not new_messages:
            logger.warning("cm2 env returned no observation for a running episode (task %s)", data.task_id)
            return data.stop("no_observation")
        obs = data.observation
        merge, new_mask, new_logprobs = await self.ct_merge_context_msg(
            obs[: len(obs) - len(new_messages)],
            obs,
            data.runtime_ids,
            data.response_mask,
            data.response_logprobs or None,
            tools=data.tools,
        )
        if len(new_mask) >= self.response_length:
            return data.stop("response_length")
        data.runtime_ids = merge.token_ids
        data.response_mask = new_mask
        if data.response_logprobs:
            data.response_logprobs = new_logprobs or []
        data.messages.extend(new_messages)
        if any(m["role"] == "user" for m in new_messages):
            data.user_turns += 1
            if self.max_user_turns and data.user_turns >= self.max_user_turns:
                return data.stop("max_user_turns")
        return AgentState.GENERATING

    # ------------------------------------------------------------------ pieces of the handlers

    async def _initial_tokens(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> list[int]:
        """The opening prompt through verl's Continuous Token builder, uncut.

        ``AgentLoopBase.ct_build_initial_tokens`` left-truncates a text prompt to ``rollout.prompt_length`` (with
        only a log line); the same builder is called here without that cap, so that an over-long prompt is
        flagged and the episode not played instead of starting from a prompt missing its system message/tools.
        """
        builder = self.continuous_token_builder
        return list(await self.loop.run_in_executor(
            None, lambda: builder.build_initial_tokens(messages, tools=tools, images=None, videos=None, audios=None,
                                                       mm_inputs_out=None),
        ))

    def _sampling_params(self, sampling_params: dict[str, Any], remaining: int) -> dict[str, Any]:
        params = dict(sampling_params)
        params["max_tokens"] = remaining
        if self.stop_token_ids:
            params["stop_token_ids"] = sorted(set(list(params.get("stop_token_ids") or []) + self.stop_token_ids))
        return params

    async def _merge_assistant(self, data: EpisodeData, token_ids: list[int], logprobs: list[float] | None) -> None:
        """Append generated tokens (mask 1, with their logprobs when the server returned them)."""
        merge, data.response_mask, new_logprobs = await self.ct_merge_assistant_token(
            data.runtime_ids,
            token_ids,
            data.response_mask,
            data.response_logprobs if (data.response_logprobs or logprobs) else None,
            assistant_logprobs=logprobs,
        )
        data.runtime_ids = merge.token_ids
        if new_logprobs is not None:
            data.response_logprobs = new_logprobs

    async def _final_summary(self, data: EpisodeData) -> EpisodeSummary:
        """The env's summary when it ended the episode; else end it now, scored as it stands."""
        if data.stop_reason == "env":
            summary = data.env.summary
            if summary is None:
                raise RuntimeError(f"cm2 env {data.env_id} ended an episode without a summary (task {data.task_id})")
            return summary
        with _timed(data.metrics, "tool_calls"):
            summary = await data.env.afinish(f"trainer_{data.stop_reason}")
        if len(data.turn_token_ends) < summary.turns_completed:  # afinish judged the turn in progress
            data.mark_turn_end()
        return summary

    # ------------------------------------------------------------------ output

    def _build_output(self, data: EpisodeData, summary: EpisodeSummary) -> AgentLoopOutput:
        n_resp = len(data.response_mask)
        runtime_ids = data.runtime_ids
        prompt_ids = runtime_ids[: len(runtime_ids) - n_resp]
        response_ids = runtime_ids[len(runtime_ids) - n_resp :] if n_resp else []
        mask = data.response_mask
        logprobs = data.response_logprobs or None
        # end the response at the last policy token (the reward sits on the last response token)
        end = min(data.last_policy_token() + 1, self.response_length)
        response_ids, mask = response_ids[:end], mask[:end]
        logprobs = logprobs[:end] if logprobs else None
        if not response_ids:  # nothing generated: one placeholder token (mask 0) carries the score
            response_ids, mask = [self._placeholder_token_id()], [0]
            logprobs = [0.0] if data.sampling_params.get("logprobs") else None
        if data.prompt_too_long:  # the unplayed sample keeps the prompt's last tokens (verl's own left cap)
            prompt_ids = prompt_ids[-self.max_prompt_length :]
        score = _reward_score(summary)
        turn_scores = [0.0 if s is None else float(s) for s in summary.turn_scores]
        last = len(response_ids) - 1
        turn_ends = [min(max(e, 0), last) for e in data.turn_token_ends[: len(turn_scores)]]
        return AgentLoopOutput(
            prompt_ids=prompt_ids,
            response_ids=response_ids,
            response_mask=mask,
            response_logprobs=logprobs,
            reward_score=score,
            num_turns=sum(1 for m in data.messages if m["role"] in ("user", "assistant", "tool")),
            metrics=data.metrics,
            extra_fields={
                # what the rollout server reported (global_steps, min/max_global_steps, spec-decode counts, ...)
                **self._server_extra_fields(data),
                "reward_extra_info": _reward_extra_info(summary, score, data),
                # verl's default extra key: per-turn checklist scores, for turn-level estimators
                "turn_scores": turn_scores,
                # response-token index of the last policy token of each judged turn (aligned with turn_scores)
                "turn_token_ends": turn_ends,
                "cm2": self._cm2_record(data, summary),
                # what train.verl.advantages needs for turn/step advantages (read by train.verl.trainer)
                "cm2_credit": _credit_record(data, summary, turn_ends, len(response_ids)),
            },
        )

    @staticmethod
    def _server_extra_fields(data: EpisodeData) -> dict[str, Any]:
        """The server's merged ``extra_fields``; weight versions a sample never got from a server (nothing
        generated, or none reported) are the sample's own step, as verl's rollout skip fills them."""
        fields = dict(data.server_extra_fields)
        if data.global_steps is not None:
            for key in ("global_steps", "min_global_steps", "max_global_steps"):
                if fields.get(key) is None:
                    fields[key] = data.global_steps
        return fields

    def _placeholder_token_id(self) -> int:
        for tid in (self.tokenizer.eos_token_id, self.tokenizer.pad_token_id):
            if isinstance(tid, int) and tid >= 0:
                return tid
        return 0

    def _cm2_record(self, data: EpisodeData, summary: EpisodeSummary) -> dict[str, Any]:
        """The per-sample ``extra_fields["cm2"]`` record: identity, why it ended, verdict counts."""
        return {
            "env_id": data.env_id,
            "task_id": data.task_id,
            "group_key": data.group_key,
            "end_reason": summary.end_reason,
            "stop_reason": data.stop_reason,
            "prompt_tokens": data.prompt_tokens,
            "verdict_counts": summary.counts(),
            "turn_verdict_counts": [turn.counts() for turn in summary.turns],
            **({"messages": data.messages} if self.record_messages else {}),
        }


def _reward_score(summary: EpisodeSummary) -> float:
    """The trajectory score as the reward; an episode without any judgeable item scores 0 (with a warning)."""
    if summary.score is None:
        logger.warning(
            "cm2 task %s: the env produced no score (no judgeable checklist item); reward 0 and "
            "reward_extra_info.cm2_score_missing=1", summary.task_id,
        )
        return 0.0
    return float(summary.score)


def _reward_extra_info(summary: EpisodeSummary, score: float, data: EpisodeData) -> dict[str, int | float]:
    """Scalar per-trajectory values (the same keys for every sample): verl logs them and dumps them."""
    counts = summary.counts()
    stop_reason = data.stop_reason
    return {
        "cm2_score": score,
        "cm2_score_missing": int(summary.score is None),
        "cm2_turns_completed": summary.turns_completed,
        "cm2_num_turns": summary.num_turns,
        **{f"cm2_items_{status}": counts[status] for status in VERDICT_STATUSES},
        "cm2_early_stop": int(summary.end_reason == "early_stop"),
        "cm2_trainer_stopped": int(stop_reason != "env"),
        # the server aborted a generation (or returned none): the episode ended without the model's action
        "cm2_aborted": int(data.aborted),
        # the opening prompt exceeded data.max_prompt_length: the episode was not played
        "cm2_prompt_too_long": int(data.prompt_too_long),
        "cm2_tool_errors": summary.tool_errors,
    }


def _message_position(messages: list[dict[str, Any]]) -> tuple[int, int]:
    """(turn, index within the turn) the next assistant message will get in the env's conversation."""
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    return max(len(users) - 1, 0), len(messages) - (users[-1] if users else 0)


def _credit_record(data: EpisodeData, summary: EpisodeSummary, turn_ends: list[int], n_response: int) -> dict[str, Any]:
    """Per judged turn its score, last policy token and item verdicts; the token span of every generated message
    (clipped to the response as returned). Plain JSON data (see ``train.verl.advantages.RolloutCredit``)."""
    task = data.env.task
    items = []
    for turn in summary.turns:
        spec = {it.id: it for it in task.turns[turn.turn].checklist} if turn.turn < len(task.turns) else {}
        items.append([{"id": v.item_id, "weight": float(spec[v.item_id].weight) if v.item_id in spec else 0.0,
                       "status": v.status, "message": v.step,
                       "dependence": list(spec[v.item_id].dependence) if v.item_id in spec else []}
                      for v in turn.verdicts.values()])
    segments = [[t, m, a, min(b, n_response)] for t, m, a, b in data.segments if a < n_response]
    return {"turn_scores": list(summary.turn_scores), "turn_token_ends": turn_ends, "segments": segments,
            "items": items}


def _prompt_limit(config: Any, rollout_config: Any) -> int | None:
    """The opening-prompt budget: ``data.max_prompt_length`` (and ``rollout.prompt_length``, which verl pads
    prompts to), the smaller of those set."""
    limits = []
    for value in ((config.get("data") or {}).get("max_prompt_length"), rollout_config.get("prompt_length")):
        if value is not None and int(value) > 0:
            limits.append(int(value))
    return min(limits) if limits else None


def _accepts_kwarg(fn: Any, name: str) -> bool:
    """Whether ``fn`` takes keyword ``name`` (by name or through ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _close(env: Any) -> None:
    """Close the rollout's env; closing must never fail a rollout."""
    if env is None:
        return
    try:
        env.close()
    except Exception:
        logger.exception("closing the cm2 env failed")
