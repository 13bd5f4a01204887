"""``Tau2Env``: a :class:`~cm2_env.env.ToolTaskEnv` over one tau2 domain (``cm2/Tau2-<Domain>-v0``).

Defaults: tasks from :func:`.loader.load_domain` (converted once per process), the real tau2 tools
(:class:`.executor.Tau2ToolExecutor`, one deep-copied environment per episode), the scripted user (see
:mod:`.loader` and :mod:`.users`: an offline approximation of tau2's LLM user that performs the user-side gold
actions), tau2's own evaluator as an end-of-episode verdict (``info["evaluations"]["tau2"]``), 30 steps per turn.
``user``: ``scripted`` | ``llm`` (tau2's guidelines on a cm2 LLM client: ``{"name": "llm", "llm": {...}}``) |
``tau2`` (tau2's UserSimulator: ``{"name": "tau2", "model": ..., "base_url": ...}``), or any cm2 user.
``nl_judge``: the official NL-assertion judge (True: tau2's default model; a dict: a model behind a base URL).
Checklist items carry programmatic checks except the NL assertions (decided by the env's ``judge`` if given,
else reported unjudged).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

from ...env import ToolTaskEnv
from ...tasks.models import Task
from .executor import Tau2ToolExecutor
from .loader import load_domain
from .official import Tau2OfficialEvaluator
from .users import bind, build_user


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
                 evaluators: Sequence[Any] | None = None, nl_judge: Any = False,
                 max_steps_per_turn: int = 30, **kwargs: Any):
        self.domain = domain
        if tasks is None:
            tasks = tau2_tasks(domain, limit=limit, task_ids=task_ids)
        super().__init__(
            tasks=tasks,
            tool_backend=tool_backend if tool_backend is not None else Tau2ToolExecutor(),
            user=build_user(user),
            evaluators=list(evaluators) if evaluators is not None else [Tau2OfficialEvaluator(nl_judge=nl_judge)],
            max_steps_per_turn=max_steps_per_turn,
            **kwargs,
        )
        inner = self.user_simulator
        env = self

        class _Binding:  # hands each of this env's user sessions its episode's tool session (user-side tools)
            def session(self, task, *, seed=None):
                s = inner.session(task, seed=seed)
                return bind(s, lambda: env._ep.tool_session if env._ep is not None and env._ep.user_session is s
                            else None)

        self.user_simulator = _Binding()

    async def _evaluate(self, ep):  # the official verdict needs the end reason (tau2's termination reason)
        try:
            ep.tool_session.end_reason = ep.end_reason
        except AttributeError:
            pass
        return await super()._evaluate(ep)
