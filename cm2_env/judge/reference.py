"""Does a task's reference trajectory pass its own programmatic checks? (Suite authoring and tests.)"""

from __future__ import annotations

from ..tasks.models import Task
from .checks import CheckContext
from .rule import decide


def reference_failures(task: Task) -> list[str]:
    """One line per programmatic item the reference does not pass, judged by the runtime rule engine."""
    out: list[str] = []
    history: list[dict] = [{"role": "system", "content": task.system_prompt}]
    turns = task.reference_turns()
    for t, turn in enumerate(task.turns):
        messages = turns[t] if t < len(turns) else []
        ctx = CheckContext(task, t, messages, list(history))
        for item in turn.checklist:
            if item.check is None:
                continue
            v = decide(item, ctx)
            if v.status != "passed":
                out.append(f"{task.id} turn {t} item {item.id} ({item.check.type}): {v.status}: {v.rationale}")
        history.extend(messages)
    return out
