"""ToolSandbox's user simulator through ``cm2_env.llm`` (registered as the ``toolsandbox_llm`` user simulator).

What ToolSandbox's ``OpenAIAPIUser.respond`` does, with any OpenAI-compatible server instead of its hard-coded
api.openai.com:

* the request: ``OpenAIAPIUser.to_openai_messages`` of the user-visible SANDBOX rows of the episode's context —
  the few-shot dialogues ToolSandbox puts into the scenario (``named_user_simulator_few_shot_examples``, rows
  ``visible_to=[USER]``, each opening with its own system message ``USER_INSTRUCTION`` + example task), then the
  scenario's own system message (``USER_INSTRUCTION`` + its task) and the conversation, roles reversed (the
  agent's replies are ``user``, the user's own messages ``assistant``) — and the user's tools
  (``end_conversation``) when the agent spoke last. Everything is read from the installed ``tool_sandbox`` at
  run time (:meth:`.session.ToolSandboxSession.user_view`), nothing is copied here.
* the answer: a tool call to ``end_conversation`` ends the conversation (the env writes the user's
  ``end_conversation()`` into the SANDBOX table and ToolSandbox executes it); otherwise the text is the user's
  next message (USER→AGENT), even when empty, as ToolSandbox sends it.
* the first user message is the scenario's (already in its starting context): no request.

A server fault (after the client's retries) ends the conversation with the error in ``UserReply.meta["error"]``,
which the env records as a ``user_error`` episode error (end reason ``user_error``; nothing is mirrored). A tool
call to any other tool (ToolSandbox's user would crash on it) is such an error too. ToolSandbox's user has no turn
bound besides the scenario's ``max_messages`` (the env enforces it); ``max_turns`` adds one if given.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Any, ClassVar

from ...llm import LLMError
from ...llm.role import LLMRole
from ...parsing import strip_think
from ...tasks.models import Task
from ...types import UserReply

END_CONVERSATION = "end_conversation"


class ToolSandboxUserSession:
    def __init__(self, sim: "ToolSandboxLLMUser", task: Task, seed: int | None):
        self.sim = sim
        self.task = task
        self.seed = seed
        self.session: Any = None
        """The episode's :class:`.session.ToolSandboxSession` (bound by ``ToolSandboxEnv``)."""

    def bind(self, session: Any) -> None:
        self.session = session

    async def first_message(self) -> UserReply:
        return UserReply(self.task.turns[0].user or "", meta={"source": "scenario"})

    async def reply(self, messages: list[dict[str, Any]], next_turn: int) -> UserReply:
        if self.sim.max_turns is not None and next_turn >= self.sim.max_turns:
            return UserReply(None, done=True, meta={"reason": "max_turns"})
        if self.session is None:
            return UserReply(None, done=True, meta={
                "error": "user_simulator_error: not bound to a ToolSandbox session (use it with cm2/ToolSandbox-v0)"})
        try:
            prompt, tools = self.session.user_view()
            resp = await self.sim.client.chat(prompt, sample=0 if self.seed is None else int(self.seed) % 1000,
                                              tools=tools or None)
        except LLMError as e:  # every server fault, malformed replies included (see LLMError.kind)
            return UserReply(None, done=True, meta={"error": f"user_simulator_error: {e.kind}: {e.message[:300]}"})
        except Exception as e:  # noqa: BLE001 - a client bug is still a simulator fault, not a crash
            return UserReply(None, done=True, meta={
                "error": f"user_simulator_error: internal: {type(e).__name__}: {str(e)[:300]}"})
        calls = resp.meta.get("tool_calls") or []
        if calls:
            names = [((c or {}).get("function") or {}).get("name") for c in calls if isinstance(c, dict)]
            offered = {t["function"]["name"] for t in tools}
            unknown = [n for n in names if n not in offered]
            if unknown or not names:
                return UserReply(None, done=True, meta={
                    "error": f"user_simulator_error: call to unknown user tool(s) {unknown or calls!r}"})
            return UserReply(None, done=True, meta={"source": "llm", "tool_calls": names})
        return UserReply(strip_think(resp.text), meta={"source": "llm"})


@dataclass(eq=False)
class ToolSandboxLLMUser(LLMRole):
    """ToolSandbox's user simulator (see the module docstring).

    Args:
        llm: role config of the user model (``LLMConfig`` fields, an ``LLMClient`` or a preset name).
        max_turns: optional bound on user turns (None: only the scenario's ``max_messages``, as in ToolSandbox).
    """

    ROLE: ClassVar[str] = "user"
    _: KW_ONLY
    max_turns: int | None = None

    def session(self, task: Task, *, seed: int | None = None) -> ToolSandboxUserSession:
        return ToolSandboxUserSession(self, task, seed)
