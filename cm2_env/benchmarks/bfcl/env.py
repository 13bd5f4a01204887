"""``BFCLMultiTurnEnv``: a :class:`~cm2_env.env.ToolTaskEnv` over one BFCL multi-turn category.

Defaults: tasks from :func:`.loader.load_category`, the real executor (:class:`.executor.BFCLToolExecutor`),
the official checker as an end-of-episode evaluator (``info["evaluations"]["bfcl"]``), 20 steps per turn
(bfcl-eval's ``MAXIMUM_STEP_LIMIT``). Every checklist item carries a programmatic check (the per-turn state
and response outcomes are the ``bfcl_state`` / ``bfcl_response`` check types), so the env needs no judge of
its own: the same task file judges the same in a plain ``ToolTaskEnv(tool_backend="bfcl")``.

miss_func: tools declared in ``task.metadata["tools_available_from_turn"]`` are hidden until their turn by
ToolTaskEnv itself (validation refuses them as unknown tools before it; ``env.tools`` and ``info["tools"]`` list
only the tools of the current turn; the tool session's ``begin_turn`` hook is told the turn).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

from ...env import ToolTaskEnv
from ...tasks.models import Task
from .executor import BFCLToolExecutor
from .loader import load_category
from .official import BFCLOfficialEvaluator

MAX_STEPS_PER_TURN = 20
"""bfcl-eval forces a turn to end after 20 model steps (``MAXIMUM_STEP_LIMIT``)."""


@lru_cache(maxsize=16)
def _cached_category(category: str, outcome_weight: float) -> tuple[Task, ...]:
    return tuple(load_category(category, outcome_weight=outcome_weight))


def bfcl_tasks(category: str, *, limit: int | None = None, task_ids: Sequence[str] | None = None,
               outcome_weight: float = 0.6) -> list[Task]:
    """The category's tasks (converted once per process and shared read-only by every env)."""
    tasks = list(_cached_category(category.removeprefix("multi_turn_"), float(outcome_weight)))
    if task_ids is not None:
        wanted = set(task_ids)
        tasks = [t for t in tasks if t.id in wanted]
    return tasks[:limit] if limit is not None else tasks


class BFCLMultiTurnEnv(ToolTaskEnv):
    """One BFCL v4 multi-turn category as a cm2 env (see module docstring)."""

    def __init__(
        self,
        category: str = "base",
        *,
        limit: int | None = None,
        task_ids: Sequence[str] | None = None,
        outcome_weight: float = 0.6,
        tasks: Any = None,
        tool_backend: Any = None,
        evaluators: Sequence[Any] | None = None,
        max_steps_per_turn: int = MAX_STEPS_PER_TURN,
        **kwargs: Any,
    ):
        """
        Args:
            category: ``base``, ``miss_func``, ``miss_param`` or ``long_context``.
            limit: keep the first N tasks. task_ids: keep these BFCL ids.
            outcome_weight: weight of each turn's state + response items (the ground-truth call items share the rest).
            tasks, tool_backend, evaluators: override the BFCL defaults (e.g. a task file).
            **kwargs: any other ToolTaskEnv argument (judge for items without a check, reward_level, ...).
        """
        self.category = category.removeprefix("multi_turn_")
        if tasks is None:
            tasks = bfcl_tasks(self.category, limit=limit, task_ids=task_ids, outcome_weight=outcome_weight)
        super().__init__(
            tasks=tasks,
            tool_backend=tool_backend if tool_backend is not None else BFCLToolExecutor(),
            evaluators=list(evaluators) if evaluators is not None else [BFCLOfficialEvaluator()],
            max_steps_per_turn=max_steps_per_turn,
            **kwargs,
        )
