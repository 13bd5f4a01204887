"""``ToolSandboxEnv``: ToolSandbox scenarios as a :class:`~cm2_env.env.ToolTaskEnv`.

The env mirrors the conversation into the episode's ToolSandbox context exactly as ToolSandbox's runner records
it: one assistant message's tool calls run as one batch (:meth:`.session.ToolSandboxSession.call_batch`; calls
refused by cm2's schema validation are still sent, since ToolSandbox has no such gate, and are marked rejected
for the checklist), an assistant message without calls is an AGENT→USER message, every later user message a
USER→AGENT message, and the user side ending the conversation is its ``end_conversation()`` call.

Message limit: the scenario's ``max_messages`` is enforced as ``Scenario.play`` does (see
:mod:`.session`): once the SANDBOX table holds ``max_messages`` messages after the starting context, the episode
ends, truncated, with end reason ``max_messages`` (calls written at the limit are not executed; their tool
messages say so). early_stop is off by default.

Checklist: ToolSandbox scores the whole conversation, so the task's one checklist is judged over every message
since the first user message, at the end of each turn, and that judgement replaces the previous one (the episode
holds one turn result; minefield items are ``veto`` items: one that fails zeroes the score, as ToolSandbox zeroes
its similarity).

User side: ``user="scripted"`` replays ``followups`` (``{scenario: [message, ...]}``) after the first message, then
ends the conversation; ``user="toolsandbox_llm"`` (:class:`.user.ToolSandboxLLMUser`) is ToolSandbox's own user
simulator (its instruction, few-shot dialogues and ``end_conversation`` tool) through ``cm2_env.llm``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping, Sequence

from ...env import Episode, ToolTaskEnv
from ...judge.base import TurnJudgeRequest
from ...judge.scoring import TurnResult, score_turn
from ...records import EpisodeError
from ...tasks.models import Task, Turn
from ...types import ToolCall, ToolResult, UserReply
from .loader import load_scenarios
from .official import ToolSandboxOfficialEvaluator
from .session import ToolSandboxBackend, ToolSandboxSession


MAX_MESSAGES = "max_messages"
"""End reason of an episode cut at the scenario's ``max_messages`` (truncated)."""


@lru_cache(maxsize=8)
def _cached(augmentations: tuple[str, ...] | bool, local_only: bool, day: str) -> tuple[Task, ...]:
    return tuple(load_scenarios(augmentations=augmentations if isinstance(augmentations, bool) else list(augmentations),
                                local_only=local_only))


def toolsandbox_tasks(*, augmentations: Sequence[str] | bool = False, local_only: bool | None = None,
                      limit: int | None = None, task_ids: Sequence[str] | None = None) -> list[Task]:
    import datetime

    from .loader import default_local_only

    augs = augmentations if isinstance(augmentations, bool) else tuple(augmentations)
    local = default_local_only() if local_only is None else bool(local_only)  # resolved before the cache
    tasks = list(_cached(augs, local, datetime.date.today().isoformat()))
    if task_ids is not None:
        wanted = set(task_ids)
        tasks = [t for t in tasks if t.id in wanted]
    return tasks[:limit] if limit is not None else tasks


def with_followups(task: Task, followups: Sequence[str]) -> Task:
    """The task with scripted user follow-ups as extra turns (the checklist stays with turn 0: the env judges it
    over the whole conversation)."""
    if not followups:
        return task
    turns = [task.turns[0]] + [Turn(user=u) for u in followups]
    return task.model_copy(update={"turns": turns})


class ToolSandboxEnv(ToolTaskEnv):
    def __init__(self, *, augmentations: Sequence[str] | bool = False, local_only: bool | None = None,
                 limit: int | None = None, task_ids: Sequence[str] | None = None,
                 followups: Mapping[str, Sequence[str]] | None = None, tasks: Any = None,
                 evaluators: Sequence[Any] | None = None, early_stop: bool = False,
                 max_steps_per_turn: int = 30, **kwargs: Any):
        if tasks is None:
            tasks = toolsandbox_tasks(augmentations=augmentations, local_only=local_only, limit=limit,
                                      task_ids=task_ids)
        if followups:
            tasks = [with_followups(t, followups.get(t.id, ())) for t in tasks]
        kwargs.pop("tool_backend", None)
        super().__init__(tasks=tasks, tool_backend=ToolSandboxBackend(),
                         evaluators=list(evaluators) if evaluators is not None else [ToolSandboxOfficialEvaluator()],
                         early_stop=early_stop, max_steps_per_turn=max_steps_per_turn, **kwargs)

    async def _execute_calls(self, ep: Episode, calls: list[ToolCall]) -> list[ToolResult]:
        """ToolSandbox runs every call of a message as one batch (parallel calls are tried in every order), even
        those our validation refuses — they are still marked refused, so they cannot satisfy a check."""
        session = ep.tool_session
        if not isinstance(session, ToolSandboxSession):
            return await super()._execute_calls(ep, calls)
        for call in calls:
            try:
                if ep.tools.check(call) is not None:
                    ep.rejected_calls.add(call.id)
                    session.rejected_ids.add(call.id)
            except Exception:  # noqa: BLE001 - a broken schema: ToolSandbox still runs the call
                pass
        return list(session.call_batch(calls))

    async def astep(self, action: Any):
        obs, reward, terminated, truncated, info = await super().astep(action)
        if terminated and info.get("end_reason") == MAX_MESSAGES:  # a limit: Gymnasium's truncated
            terminated, truncated = False, True
        return obs, reward, terminated, truncated, info

    async def _run_tools(self, ep: Episode, calls: list[ToolCall], step: Any) -> str | None:
        end = await super()._run_tools(ep, calls, step)
        session = ep.tool_session
        if end is None and isinstance(session, ToolSandboxSession) and session.truncated:
            step.turn_result = await self._judge_turn(ep)
            return MAX_MESSAGES
        return end

    async def _advance_turn(self, ep: Episode, step: Any) -> str | None:
        session = ep.tool_session
        if not isinstance(session, ToolSandboxSession):
            return await super()._advance_turn(ep, step)
        session.agent_reply(ep.messages[-1].get("content") or "")
        if session.truncated:  # the agent's reply was the last message ToolSandbox allows
            step.turn_result = await self._judge_turn(ep)
            return MAX_MESSAGES
        end = await super()._advance_turn(ep, step)
        return MAX_MESSAGES if end == "user_done" and session.truncated else end

    async def _user_says(self, ep: Episode, messages: list[dict[str, Any]] | None, next_turn: int,
                         errors: list[EpisodeError]) -> UserReply | None:
        session = ep.tool_session
        bind = getattr(ep.user_session, "bind", None)
        if callable(bind) and isinstance(session, ToolSandboxSession):
            bind(session)  # the ToolSandbox user reads its view from the episode's context
        reply = await super()._user_says(ep, messages, next_turn, errors)
        if messages is not None and isinstance(session, ToolSandboxSession):  # the first message is in the context
            if reply is None or reply.done or reply.content is None:
                if reply is not None and not reply.meta.get("error"):
                    session.end_conversation()
            else:
                session.user_says(reply.content)
                if session.truncated:  # the user's message was the last one allowed: the agent never answers it
                    ep.messages.append({"role": "user", "content": reply.content})
                    return UserReply(None, done=True, meta={**reply.meta, "reason": MAX_MESSAGES})
        return reply

    async def _judge_turn(self, ep: Episode) -> TurnResult:
        """The task's checklist over the whole conversation so far (ToolSandbox evaluates the whole episode);
        the result replaces the previous turn's, so the episode's score is that of its last judgement."""
        items = [it for t in ep.task.turns for it in t.checklist]
        session = ep.tool_session
        rejected = session.rejected_ids if isinstance(session, ToolSandboxSession) else ep.rejected_calls
        request = TurnJudgeRequest(ep.task, 0, items, ep.messages[1:], ep.messages[:1], frozenset(rejected), session)
        judged = await self.judging.judge_turn(request)
        ep.errors.extend(judged.errors)
        result = score_turn(0, items, judged.verdicts, self.dependence_gating)
        ep.turn_results[:] = [result]
        return result
