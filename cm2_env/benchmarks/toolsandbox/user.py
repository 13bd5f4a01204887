"""LLM user for ToolSandbox scenarios (registered as the ``toolsandbox_llm`` user simulator).

cm2's :class:`~cm2_env.users.llm_user.LLMUser` (client via ``cm2_env.llm``, JSON ``{"message", "done"}`` replies,
bounded turns), with ToolSandbox's own user instruction — the scenario's SYSTEM→USER message, i.e.
``USER_INSTRUCTION`` + the scenario's task — as the system prompt, verbatim, instead of a persona/goal template.
The conversation is shown like ToolSandbox's user sees it (the agent's replies and its own messages). ``done``
becomes the ``end_conversation()`` call in the mirrored SANDBOX table (``ToolSandboxEnv``).
Not replicated: ToolSandbox's few-shot user examples and GPT-specific tool-calling for ``end_conversation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...tasks.models import Task
from ...users.llm_user import STOP_TOKEN, LLMUser, _transcript

JSON_RULE = ("\n\nReply with one JSON object only: {\"message\": \"<your next message to the agent>\", \"done\": false}; "
             "when the task is completed or the agent cannot help (where you would call end_conversation), reply "
             f"{{\"message\": \"\", \"done\": true}} (or write {STOP_TOKEN}).")


@dataclass(eq=False)
class ToolSandboxLLMUser(LLMUser):
    def build_messages(self, task: Task, messages: list[dict[str, Any]], next_turn: int,
                       max_turns: int) -> list[dict[str, str]]:
        instruction = (task.metadata.get("toolsandbox") or {}).get("user_instruction")
        if not instruction:
            return super().build_messages(task, messages, next_turn, max_turns)
        convo = _transcript(messages, self.max_transcript_chars)
        body = ("## Conversation so far\n" + (convo or "(nothing yet: you open the conversation)")
                + f"\n\nWrite your message for turn {next_turn + 1} of at most {max_turns}, or finish.")
        return [{"role": "system", "content": instruction + JSON_RULE}, {"role": "user", "content": body}]
