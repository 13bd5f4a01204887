"""VeRL agent loop that plays one cm2 episode per rollout.

Selected per dataset row by ``agent_name == "cm2_env"`` (see ``train/verl/agent_loops.yaml``; ``python -m
train.grpo`` registers that file with verl). For each rollout it

1. builds the cm2 env named by the row (``extra_info.env_id`` / ``extra_info.env_kwargs``, merged over the
   trainer config's ``cm2.env_id`` / ``cm2.env_kwargs``) and resets it on ``extra_info.task_id`` with a group
   key shared by all rollouts of the same prompt (verl's per-prompt ``uid``), so that stateful or memoising
   simulators answer a group consistently;
2. renders the env's first observation (system + first user message) and the task's tools with the model's
   chat template (verl's Continuous Token builder, the same path as verl's own ``ToolAgentLoop``);
3. loops: ``server_manager.generate`` → decode → ``env.astep(text)``; the generated tokens get
   ``response_mask`` 1, the observation the env appends (tool results, the next user message) is rendered
   with the chat template as the delta after the conversation so far and gets ``response_mask`` 0;
4. stops when the env terminates/truncates, the response budget (``rollout.response_length``) is spent,
   or ``multi_turn.max_assistant_turns`` / ``max_user_turns`` is reached; an episode stopped by the trainer
   is closed and scored by the env as it stands (unreached turns score 0);
5. returns ``AgentLoopOutput`` with ``reward_score`` = the env's checklist trajectory score, which verl puts
   on the last response token (``rm_scores``) without calling any reward function.

Token/text agreement: ``prompt_ids + response_ids`` equal the tokenizer's chat-template rendering of the
conversation in which each assistant message is the raw text the model generated (the text the env parsed),
minus the template's trailing newline after the final ``<|im_end|>``. Caveat — templates that rewrite
history (Qwen3 drops the ``<think>`` block of assistant messages before the last user message) render a
*different* text for the whole conversation than the rollout's token stream, in which earlier thinking stays
(the model saw it while acting). Training on the rollout stream is the on-policy choice; see the README.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
from typing import Any
from uuid import uuid4

from omegaconf import DictConfig, OmegaConf

from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopOutput, register

from . import AGENT_NAME

logger = logging.getLogger(__name__)
logger.setLevel(os.getenv("VERL_LOGGING_LEVEL", "WARN"))

DEFAULT_ENV_ID = "cm2/ToolTask-v0"

VERDICT_STATUSES = ("passed", "failed", "unjudged", "error")


def _plain(value: Any) -> Any:
    """OmegaConf / numpy containers → plain Python (env kwargs must not carry DictConfig)."""
    if isinstance(value, DictConfig) or OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            return value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


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
    from cm2_env.registry import with_shared_backends

    key = json.dumps([env_id, kwargs], sort_keys=True, default=str)
    if key not in _SHARED_KWARGS:
        _SHARED_KWARGS[key] = with_shared_backends(env_id, **kwargs)
    return _SHARED_KWARGS[key]


async def finish_episode(env: Any, reason: str) -> dict[str, Any]:
    """End a running episode early (trainer budget) and return the env's final info (with ``score``)."""
    return await env.afinish(reason=reason)


def group_key_for(kwargs: dict[str, Any]) -> str:
    """The key shared by the rollouts of one prompt: verl's per-prompt ``uid``, else the row index."""
    uid = kwargs.get("uid")
    if uid is not None:
        return str(_plain(uid))
    extra = kwargs.get("extra_info") or {}
    for key in ("group_key", "index"):
        if extra.get(key) is not None:
            return f"{key}-{_plain(extra[key])}"
    if kwargs.get("index") is not None:
        return f"index-{_plain(kwargs['index'])}"
    return f"solo-{uuid4().hex}"


def seed_for(group_key: str) -> int:
    """A stable 31-bit seed from the group key: rollouts of one group see identically seeded simulators."""
    return int.from_bytes(hashlib.sha256(group_key.encode()).digest()[:4], "big") & 0x7FFFFFFF


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
        self.default_env_kwargs = _plain(cm2_cfg.get("env_kwargs") or {})
        self.record_messages = bool(cm2_cfg.get("record_messages", False))
        stop_tokens = list(cm2_cfg.get("stop_tokens") or [])
        unk = getattr(self.tokenizer, "unk_token_id", None)
        self.stop_token_ids: list[int] = []
        for tok in stop_tokens:
            tid = self.tokenizer.convert_tokens_to_ids(tok)
            if isinstance(tid, int) and tid >= 0 and tid != unk:
                self.stop_token_ids.append(tid)

    # ------------------------------------------------------------------ helpers

    def _env_spec(self, extra_info: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
        env_id = extra_info.get("env_id") or self.default_env_id
        row_kwargs = _plain(extra_info.get("env_kwargs") or {})
        if isinstance(row_kwargs, str):  # `cm2 data to-verl` stores them as JSON text (parquet-friendly)
            row_kwargs = json.loads(row_kwargs) if row_kwargs.strip() else {}
        env_kwargs = {**self.default_env_kwargs, **row_kwargs}
        task_id = extra_info.get("task_id")
        if not task_id:
            raise ValueError("cm2 agent loop: the dataset row has no extra_info.task_id (build it with `cm2 data to-verl`)")
        return str(env_id), env_kwargs, str(task_id)

    def _sampling_params(self, sampling_params: dict[str, Any], remaining: int) -> dict[str, Any]:
        params = dict(sampling_params)
        params["max_tokens"] = remaining
        if self.stop_token_ids:
            params["stop_token_ids"] = sorted(set(list(params.get("stop_token_ids") or []) + self.stop_token_ids))
        return params

    # ------------------------------------------------------------------ main loop

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        extra_info = _plain(kwargs.get("extra_info") or {})
        env_id, env_kwargs, task_id = self._env_spec(extra_info)
        group_key = group_key_for(kwargs)
        seed = seed_for(group_key)
        request_id = uuid4().hex
        metrics: dict[str, Any] = {"generate_sequences": 0.0, "tool_calls": 0.0}

        source = env_kwargs.get("tasks")
        if isinstance(source, str):  # first use in this process parses the task file: keep the loop free
            await self.loop.run_in_executor(None, tasks_by_id, source)
        env = make_env(env_id, task_id, **env_kwargs)
        try:
            t0 = time.perf_counter()
            obs, info = await env.areset(seed=seed, options={"task_id": task_id, "group_key": group_key})
            metrics["tool_calls"] += time.perf_counter() - t0
            tools = info.get("tools") or None
            messages: list[dict[str, Any]] = list(obs)
            tokenized_messages = list(obs)

            prompt_ids = await self.ct_build_initial_tokens(messages, tools=tools)
            runtime_ids: list[int] = list(prompt_ids)
            response_mask: list[int] = []
            response_logprobs: list[float] = []
            assistant_turns = user_turns = 0
            assistant_texts: list[str] = []
            turn_token_ends: list[int] = []
            final_info: dict[str, Any] | None = None
            stop_reason = "env"
            num_preempted = -1

            while True:
                remaining = self.response_length - len(response_mask)
                if remaining <= 0:
                    stop_reason = "response_length"
                    break
                if self.max_assistant_turns and assistant_turns >= self.max_assistant_turns:
                    stop_reason = "max_assistant_turns"
                    break

                t0 = time.perf_counter()
                output = await self.server_manager.generate(
                    request_id=request_id,
                    prompt_ids=runtime_ids,
                    sampling_params=self._sampling_params(sampling_params, remaining),
                )
                metrics["generate_sequences"] += time.perf_counter() - t0
                if output.num_preempted is not None:
                    num_preempted = max(num_preempted, 0) + int(output.num_preempted)
                token_ids = list(output.token_ids)[:remaining]
                logprobs = list(output.log_probs)[: len(token_ids)] if output.log_probs else None
                merge, response_mask, new_logprobs = await self.ct_merge_assistant_token(
                    runtime_ids,
                    token_ids,
                    response_mask,
                    response_logprobs if (response_logprobs or logprobs) else None,
                    assistant_logprobs=logprobs,
                )
                runtime_ids = merge.token_ids
                if new_logprobs is not None:
                    response_logprobs = new_logprobs
                assistant_turns += 1

                text = self.tokenizer.decode(token_ids, skip_special_tokens=True)
                assistant_texts.append(text)
                tokenized_messages.append({"role": "assistant", "content": text})

                t0 = time.perf_counter()
                obs, _reward, terminated, truncated, info = await env.astep(text)
                metrics["tool_calls"] += time.perf_counter() - t0
                if info.get("turn_result") is not None:
                    turn_token_ends.append(len(response_mask) - 1)
                if terminated or truncated:
                    final_info = info
                    stop_reason = "env"
                    break
                if len(response_mask) >= self.response_length:
                    stop_reason = "response_length"
                    break

                new_messages = list(info.get("new_messages") or [])
                if not new_messages:
                    logger.warning("cm2 env returned no observation for a running episode (task %s)", task_id)
                    stop_reason = "no_observation"
                    break
                previous = list(obs[: len(obs) - len(new_messages)])
                merge, new_mask, new_logprobs = await self.ct_merge_context_msg(
                    previous,
                    list(obs),
                    runtime_ids,
                    response_mask,
                    response_logprobs if response_logprobs else None,
                    tools=tools,
                )
                if len(new_mask) >= self.response_length:
                    stop_reason = "response_length"
                    break
                runtime_ids = merge.token_ids
                response_mask = new_mask
                if response_logprobs:
                    response_logprobs = new_logprobs or []
                tokenized_messages.extend(new_messages)
                if any(m.get("role") == "user" for m in new_messages):
                    user_turns += 1
                    if self.max_user_turns and user_turns >= self.max_user_turns:
                        stop_reason = "max_user_turns"
                        break

            if final_info is None:
                t0 = time.perf_counter()
                final_info = await finish_episode(env, f"trainer_{stop_reason}")
                metrics["tool_calls"] += time.perf_counter() - t0
                if len(turn_token_ends) < len(final_info.get("turn_scores") or []):
                    turn_token_ends.append(len(response_mask) - 1)
        finally:
            try:
                env.close()
            except Exception:  # closing must never fail a rollout
                logger.exception("closing the cm2 env failed")

        metrics["num_preempted"] = num_preempted
        return self._build_output(
            prompt_ids=prompt_ids,
            runtime_ids=runtime_ids,
            response_mask=response_mask,
            response_logprobs=response_logprobs,
            final_info=final_info,
            metrics=metrics,
            tokenized_messages=tokenized_messages,
            turn_token_ends=turn_token_ends,
            stop_reason=stop_reason,
            task_id=task_id,
            env_id=env_id,
            group_key=group_key,
        )

    def _build_output(
        self,
        *,
        prompt_ids: list[int],
        runtime_ids: list[int],
        response_mask: list[int],
        response_logprobs: list[float],
        final_info: dict[str, Any],
        metrics: dict[str, Any],
        tokenized_messages: list[dict[str, Any]],
        turn_token_ends: list[int],
        stop_reason: str,
        task_id: str,
        env_id: str,
        group_key: str,
    ) -> AgentLoopOutput:
        n_resp = len(response_mask)
        response_ids = runtime_ids[len(runtime_ids) - n_resp :] if n_resp else []
        prompt_part = runtime_ids[: len(runtime_ids) - n_resp]
        raw_score = final_info.get("score")
        score_missing = raw_score is None
        if score_missing:
            logger.warning(
                "cm2 task %s: the env produced no score (no judgeable checklist item); reward 0 and "
                "reward_extra_info.cm2_score_missing=1", task_id,
            )
        score = 0.0 if score_missing else float(raw_score)
        turn_scores = [0.0 if s is None else float(s) for s in (final_info.get("turn_scores") or [])]
        counts = {s: int((final_info.get("counts") or {}).get(s, 0)) for s in VERDICT_STATUSES}
        per_turn_counts = []
        for turn in final_info.get("verdicts") or []:
            vs = turn.get("verdicts") if isinstance(turn, dict) else None
            values = list(vs.values()) if isinstance(vs, dict) else list(vs or [])
            per_turn_counts.append(
                {s: sum(1 for v in values if isinstance(v, dict) and v.get("status") == s) for s in VERDICT_STATUSES}
            )
        end_reason = final_info.get("end_reason")
        tool_errors = sum(1 for c in final_info.get("tool_calls") or [] if isinstance(c, dict) and c.get("error"))
        reward_extra_info = {
            # scalar per-trajectory values: verl logs them in validation metrics and dumps
            "cm2_score": score,
            "cm2_score_missing": int(score_missing),
            "cm2_turns_completed": int(final_info.get("turns_completed") or len(turn_scores)),
            "cm2_num_turns": int(final_info.get("num_turns") or 0),
            "cm2_items_passed": counts["passed"],
            "cm2_items_failed": counts["failed"],
            "cm2_items_unjudged": counts["unjudged"],
            "cm2_items_error": counts["error"],
            "cm2_early_stop": int(end_reason == "early_stop"),
            "cm2_trainer_stopped": int(stop_reason != "env"),
            "cm2_tool_errors": tool_errors,
        }
        num_turns = sum(1 for m in tokenized_messages if m.get("role") in ("user", "assistant", "tool"))
        return AgentLoopOutput(
            prompt_ids=prompt_part,
            response_ids=response_ids[: self.response_length],
            response_mask=response_mask[: self.response_length],
            response_logprobs=response_logprobs[: self.response_length] if response_logprobs else None,
            reward_score=score,
            num_turns=num_turns,
            metrics=metrics,
            extra_fields={
                "reward_extra_info": reward_extra_info,
                # verl's default extra key: per-turn checklist scores, for turn-level estimators
                "turn_scores": turn_scores,
                # response-token index of the last policy token of each judged turn (aligned with turn_scores)
                "turn_token_ends": turn_token_ends[: len(turn_scores)],
                "cm2": {
                    "env_id": env_id,
                    "task_id": task_id,
                    "group_key": group_key,
                    "end_reason": end_reason,
                    "stop_reason": stop_reason,
                    "verdict_counts": counts,
                    "turn_verdict_counts": per_turn_counts,
                    **({"messages": tokenized_messages} if self.record_messages else {}),
                },
            },
        )
