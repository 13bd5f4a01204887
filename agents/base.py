"""Agent protocol: a policy that acts as the assistant in a cm2 env."""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

from cm2_env.tasks.models import Task


@runtime_checkable
class Agent(Protocol):
    def reset(self, task: Task, seed: int | None = None) -> None:
        """Start an episode of ``task`` (agents that need no task knowledge may ignore it)."""
        ...

    async def act(self, observation: list[dict[str, Any]], info: dict[str, Any]) -> str | dict[str, Any]:
        """The next assistant message: raw text or an OpenAI-format dict."""
        ...


def to_hermes_text(message: dict[str, Any]) -> str:
    """Render an OpenAI assistant message as raw hermes/Qwen text (content + <tool_call> blocks)."""
    parts = [message.get("content") or ""]
    for tc in message.get("tool_calls") or []:
        fn = tc["function"]
        args = fn.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except json.JSONDecodeError:
                pass
        parts.append("<tool_call>\n" + json.dumps({"name": fn["name"], "arguments": args}, ensure_ascii=False)
                     + "\n</tool_call>")
    return "\n".join(p for p in parts if p)
