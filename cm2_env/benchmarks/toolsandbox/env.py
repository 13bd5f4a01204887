"""``ToolSandboxEnv``: ToolSandbox scenarios as a :class:`~cm2_env.env.ToolTaskEnv`.

The env mirrors the conversation into the episode's ToolSandbox context exactly as ToolSandbox's runner records
it: one assistant message's tool calls run as one batch (:meth:`.session.ToolSandboxSession.call_batch`; calls
refused by cm2's schema validation are still sent, since ToolSandbox has no such gate, and are marked rejected
for the checklist), an assistant message without calls is an AGENT→USER message, every later user message a
USER→AGENT message, and the user side ending the conversation is its ``end_conversation()`` call. Turn limit:
ToolSandbox's ``max_messages`` is left to its evaluator (``turn_count``); early_stop is off by default.

User side: ``user="scripted"`` replays ``followups`` (``{scenario: [message, ...]}``) after the first message, then
ends the conversation; ``user="llm"`` (cm2_env.users) plays the scenario's user instruction (``task.user.goal``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping, Sequence

from ...env import Episode, ToolTaskEnv
from ...records import EpisodeError
from ...tasks.models import Task, Turn
from ...types import ToolCall, ToolResult, UserReply
from .loader import load_scenarios
from .official import ToolSandboxOfficialEvaluator
from .session import ToolSandboxBackend, ToolSandboxSession


@lru_cache(maxsize=8)
def _cached(augmentations: tuple[str, ...] | bool, local_only: bool | None, day: str) -> tuple[Task, ...]:
    return tuple(load_scenarios(augmentations=augmentations if isinstance(augmentations, bool) else list(augmentations),
                                local_only=local_only))


def toolsandbox_tasks(*, augmentations: Sequence[str] | bool = False, local_only: bool | None = None,
                      limit: int | None = None, task_ids: Sequence[str] | None = None) -> list[Task]:
    import datetime

    augs = augmentations if isinstance(augmentations, bool) else tuple(augmentations)
    tasks = list(_cached(augs, local_only, datetime.date.today().isoformat()))
    if task_ids is not None:
        wanted = set(task_ids)
        tasks = [t for t in tasks if t.id in wanted]
    return tasks[:limit] if limit is not None else tasks


def with_followups(task: Task, followups: Sequence[str]) -> Task:
    """The task with scripted user follow-ups as extra turns; the checklist moves to the last turn."""
    if not followups:
        return task
    items = task.turns[0].checklist
    turns = [Turn(user=task.turns[0].user, checklist=[])] + [Turn(user=u) for u in followups]
    turns[-1] = Turn(user=turns[-1].user, checklist=items)
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
            except Exception:  # noqa: BLE001 - a broken schema: ToolSandbox still runs the call
                pass
        return list(session.call_batch(calls))

    async def _advance_turn(self, ep: Episode, step: Any) -> str | None:
        if isinstance(ep.tool_session, ToolSandboxSession):
            ep.tool_session.agent_reply(ep.messages[-1].get("content") or "")
        return await super()._advance_turn(ep, step)

    async def _user_says(self, ep: Episode, messages: list[dict[str, Any]] | None, next_turn: int,
                         errors: list[EpisodeError]) -> UserReply | None:
        reply = await super()._user_says(ep, messages, next_turn, errors)
        session = ep.tool_session
        if messages is not None and isinstance(session, ToolSandboxSession):  # the first message is in the context
            if reply is None or reply.done or reply.content is None:
                if reply is not None and not reply.meta.get("error"):
                    session.end_conversation()
            else:
                session.user_says(reply.content)
        return reply
