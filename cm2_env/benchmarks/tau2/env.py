"""``Tau2Env``: a :class:`~cm2_env.env.ToolTaskEnv` over one tau2 domain (``cm2/Tau2-<Domain>-v0``).

Defaults: tasks from :func:`.loader.load_domain` (converted once per process), the real tau2 tools
(:class:`.executor.Tau2ToolExecutor`, one deep-copied environment per episode), the scripted user (see
:mod:`.loader`: an offline approximation of tau2's LLM user), tau2's own evaluator as an end-of-episode verdict
(``info["evaluations"]["tau2"]``), 30 steps per turn. Checklist items carry programmatic checks except the NL
assertions (decided by the env's ``judge`` if given, else reported unjudged).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

from ...env import ToolTaskEnv
from ...tasks.models import Task
from .executor import Tau2ToolExecutor
from .loader import load_domain
from .official import Tau2OfficialEvaluator


@lru_cache(maxsize=16)
def _cached_domain(domain: str) -> tuple[Task, ...]:
    return tuple(load_domain(domain))


def tau2_tasks(domain: str, *, limit: int | None = None, task_ids: Sequence[str] | None = None) -> list[Task]:
    tasks = list(_cached_domain(domain))
    if task_ids is not None:
        wanted = {str(t) if "/" in str(t) else f"{domain}/{t}" for t in task_ids}
        tasks = [t for t in tasks if t.id in wanted]
    return tasks[:limit] if limit is not None else tasks


class Tau2Env(ToolTaskEnv):
    """One tau2 domain as a cm2 env (see module docstring)."""

    def __init__(self, domain: str = "retail", *, limit: int | None = None, task_ids: Sequence[str] | None = None,
                 tasks: Any = None, tool_backend: Any = None, user: Any = "scripted",
                 evaluators: Sequence[Any] | None = None, nl_judge: bool = False,
                 max_steps_per_turn: int = 30, **kwargs: Any):
        self.domain = domain
        if tasks is None:
            tasks = tau2_tasks(domain, limit=limit, task_ids=task_ids)
        super().__init__(
            tasks=tasks,
            tool_backend=tool_backend if tool_backend is not None else Tau2ToolExecutor(),
            user=user,
            evaluators=list(evaluators) if evaluators is not None else [Tau2OfficialEvaluator(nl_judge=nl_judge)],
            max_steps_per_turn=max_steps_per_turn,
            **kwargs,
        )

    async def _evaluate(self, ep):  # the official verdict needs the end reason (tau2's termination reason)
        try:
            ep.tool_session.end_reason = ep.end_reason
        except AttributeError:
            pass
        return await super()._evaluate(ep)
