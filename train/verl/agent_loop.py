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
* ``GENERATING``: ``server_manager.generate``; the generated tokens get ``response_mask`` 1;
* ``STEPPING``: ``env.astep(decoded text)``;
* ``OBSERVING``: the observation the env appended (tool results, the next user message) is rendered with the
  chat template as the delta after the conversation so far and gets ``response_mask`` 0;
* ``TERMINATED``: the env terminated/truncated the episode, the response budget (``rollout.response_length``)
  is spent, or ``multi_turn.max_assistant_turns`` / ``max_user_turns`` is reached. The outcome is the env's
  :class:`~cm2_env.records.EpisodeSummary`: ``env.summary`` when the env ended the episode, else
  ``env.afinish("trainer_<stop reason>")``, which scores the episode as it stands (unreached turns score 0).

The loop returns ``AgentLoopOutput`` with ``reward_score`` = the env's checklist trajectory score, which verl
puts on the last response token (``rm_scores``) without calling any reward function.

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
import json
import logging
import os
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterator
from uuid import uuid4

from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopOutput, register

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
    text: str = ""
    """The last generated message, decoded (what the env parses)."""
    observation: list[dict[str, Any]] = field(default_factory=list)
    """The env's full conversation after the last step."""
    new_messages: list[dict[str, Any]] = field(default_factory=list)
    """What the last step appended after the assistant message."""
    stop_reason: str = "env"
    """``env`` when the env ended the episode, else the trainer limit that stopped it."""
    summary: EpisodeSummary | None = None

    def stop(self, reason: str) -> AgentState:
        self.stop_reason = reason
        return AgentState.TERMINATED

    def mark_turn_end(self) -> None:
        self.turn_token_ends.append(len(self.response_mask) - 1)


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
        cm2_cfg = self.config.get("cm2") or {}
        self.default_env_id = cm2_cfg.get("env_id") or DEFAULT_ENV_ID
        self.default_env_kwargs = to_plain(cm2_cfg.get("env_kwargs") or {})
        self.record_messages = bool(cm2_cfg.get("record_messages", False))
        self.stop_token_ids = self._token_ids(cm2_cfg.get("stop_tokens") or [])
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

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        data = self._episode_data(sampling_params, kwargs)
        try:
            state = AgentState.PENDING
            while state != AgentState.TERMINATED:
                state = await self._handlers[state](data)
            data.summary = await self._final_summary(data)
        finally:
            _close(data.env)
        data.metrics["num_preempted"] = data.num_preempted
        return self._build_output(data, data.summary)

    def _episode_data(self, sampling_params: dict[str, Any], kwargs: dict[str, Any]) -> EpisodeData:
        extra_info = to_plain(kwargs.get("extra_info") or {})
        env_id = extra_info.get("env_id") or self.default_env_id
        row_kwargs = to_plain(extra_info.get("env_kwargs") or {})
        if isinstance(row_kwargs, str):  # `cm2 data to-verl` stores them as JSON text (parquet-friendly)
            row_kwargs = json.loads(row_kwargs) if row_kwargs.strip() else {}
        task_id = extra_info.get("task_id")
        if not task_id:
            raise ValueError("cm2 agent loop: the dataset row has no extra_info.task_id (build it with `cm2 data to-verl`)")
        return EpisodeData(
            env_id=str(env_id),
            env_kwargs={**self.default_env_kwargs, **row_kwargs},
            task_id=str(task_id),
            group_key=group_key_for(kwargs),
            sampling_params=dict(sampling_params),
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
        data.runtime_ids = list(await self.ct_build_initial_tokens(list(obs), tools=data.tools))
        return AgentState.GENERATING

    async def _handle_generating(self, data: EpisodeData) -> AgentState:
        """Generate the next assistant message within the remaining response budget."""
        remaining = self.response_length - len(data.response_mask)
        if remaining <= 0:
            return data.stop("response_length")
        if self.max_assistant_turns and data.assistant_turns >= self.max_assistant_turns:
            return data.stop("max_assistant_turns")
        with _timed(data.metrics, "generate_sequences"):
            output = await self.server_manager.generate(
                request_id=data.request_id,
                prompt_ids=data.runtime_ids,
                sampling_params=self._sampling_params(data.sampling_params, remaining),
            )
        if output.num_preempted is not None:
            data.num_preempted = max(data.num_preempted, 0) + int(output.num_preempted)
        token_ids = list(output.token_ids)[:remaining]
        logprobs = list(output.log_probs)[: len(token_ids)] if output.log_probs else None
        await self._merge_assistant(data, token_ids, logprobs)
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
        response_ids = runtime_ids[len(runtime_ids) - n_resp :] if n_resp else []
        score = _reward_score(summary)
        turn_scores = [0.0 if s is None else float(s) for s in summary.turn_scores]
        logprobs = data.response_logprobs
        return AgentLoopOutput(
            prompt_ids=runtime_ids[: len(runtime_ids) - n_resp],
            response_ids=response_ids[: self.response_length],
            response_mask=data.response_mask[: self.response_length],
            response_logprobs=logprobs[: self.response_length] if logprobs else None,
            reward_score=score,
            num_turns=sum(1 for m in data.messages if m["role"] in ("user", "assistant", "tool")),
            metrics=data.metrics,
            extra_fields={
                "reward_extra_info": _reward_extra_info(summary, score, data.stop_reason),
                # verl's default extra key: per-turn checklist scores, for turn-level estimators
                "turn_scores": turn_scores,
                # response-token index of the last policy token of each judged turn (aligned with turn_scores)
                "turn_token_ends": data.turn_token_ends[: len(turn_scores)],
                "cm2": self._cm2_record(data, summary),
            },
        )

    def _cm2_record(self, data: EpisodeData, summary: EpisodeSummary) -> dict[str, Any]:
        """The per-sample ``extra_fields["cm2"]`` record: identity, why it ended, verdict counts."""
        return {
            "env_id": data.env_id,
            "task_id": data.task_id,
            "group_key": data.group_key,
            "end_reason": summary.end_reason,
            "stop_reason": data.stop_reason,
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


def _reward_extra_info(summary: EpisodeSummary, score: float, stop_reason: str) -> dict[str, int | float]:
    """Scalar per-trajectory values (the same keys for every sample): verl logs them and dumps them."""
    counts = summary.counts()
    return {
        "cm2_score": score,
        "cm2_score_missing": int(summary.score is None),
        "cm2_turns_completed": summary.turns_completed,
        "cm2_num_turns": summary.num_turns,
        **{f"cm2_items_{status}": counts[status] for status in VERDICT_STATUSES},
        "cm2_early_stop": int(summary.end_reason == "early_stop"),
        "cm2_trainer_stopped": int(stop_reason != "env"),
        "cm2_tool_errors": summary.tool_errors,
    }


def _close(env: Any) -> None:
    """Close the rollout's env; closing must never fail a rollout."""
    if env is None:
        return
    try:
        env.close()
    except Exception:
        logger.exception("closing the cm2 env failed")
