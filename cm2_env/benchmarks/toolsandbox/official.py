"""ToolSandbox's own verdict: ``Evaluation.evaluate`` on the episode's execution context (the SANDBOX table the
env mirrored), reported as ``info["evaluations"]["toolsandbox"]``."""

from __future__ import annotations

from typing import Any

from ...tasks.models import Task


def verdict_of(result: Any) -> dict[str, Any]:
    return {
        "similarity": float(result.similarity),
        "milestone_similarity": float(result.milestone_similarity),
        "minefield_similarity": float(result.minefield_similarity),
        "milestone_mapping": {str(k): [int(v[0]), float(v[1])] for k, v in result.milestone_mapping.items()},
        "minefield_mapping": {str(k): [int(v[0]), float(v[1])] for k, v in result.minefield_mapping.items()},
        "turn_count": int(result.turn_count),
    }


class ToolSandboxOfficialEvaluator:
    name = "toolsandbox"

    async def evaluate(self, task: Task, messages: list[dict[str, Any]], session: Any = None) -> dict[str, Any]:
        from .session import ToolSandboxSession

        if not isinstance(session, ToolSandboxSession):
            return {"error": "not a ToolSandbox session"}
        out = verdict_of(session.evaluate())
        out.update(scenario=task.metadata["toolsandbox"]["scenario"], categories=task.metadata.get("categories", []))
        return out
