"""Per-episode ToolSandbox state: a private copy of the scenario's starting ``ExecutionContext`` whose SANDBOX
message table is kept exactly as ToolSandbox's own runner (``Scenario.play``) would have written it.

* :meth:`ToolSandboxSession.call_batch` — one assistant message's tool calls: written as AGENT→EXECUTION_ENVIRONMENT
  messages (python code, as ``OpenAIAPIAgent`` writes them, scrambled names mapped back), then ToolSandbox's
  ``ExecutionEnvironment.respond()`` runs them as one batch (parallel calls tried in every order).
* :meth:`agent_reply` (AGENT→USER), :meth:`user_says` (USER→AGENT), :meth:`end_conversation` (the user's
  ``end_conversation()`` tool call, as ToolSandbox's user simulator ends a conversation).
* Message limit: ``Scenario.play`` lets a role respond only while the last message index is below
  ``start + max_messages`` (``start`` = the last index of the starting context). The session checks the same
  condition after each role's messages: once reached, :attr:`truncated` is set and nothing more is added or run
  (calls written by the agent at the limit are recorded but never executed, as in ToolSandbox's loop).
* :meth:`user_view` — the OpenAI messages and tools ToolSandbox's ``OpenAIAPIUser`` would send its model now
  (its user instruction and the scenario's few-shot dialogues come from the context, ``visible_to=[USER]``).

Every interaction runs inside :func:`._ts.in_context` (see there for why concurrent episodes are isolated).
"""

from __future__ import annotations

import copy
import json
import keyword
import re
from typing import Any

from ...tasks.models import Task
from ...tools.validation import error_result
from ...types import ToolCall, ToolResult
from . import _ts

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def scenario_of(task: Task) -> Any:
    meta = task.metadata.get("toolsandbox") or {}
    name = meta.get("scenario")
    if not name:
        raise ValueError(f"task {task.id!r} is not a ToolSandbox task (metadata.toolsandbox.scenario missing)")
    return _ts.all_scenarios()[name]


class ToolSandboxSession:
    """One episode's execution context (``self.context``) and its scenario."""

    def __init__(self, task: Task):
        from tool_sandbox.common.execution_context import DatabaseNamespace, RoleType
        from tool_sandbox.roles.execution_environment import ExecutionEnvironment

        self.task = task
        self.scenario = scenario_of(task)
        self.context = copy.deepcopy(self.scenario.starting_context)
        self.closed = False
        self.ended = False
        self.truncated = False
        """The scenario's ``max_messages`` was reached (see the module docstring)."""
        self.rejected_ids: set[str] = set()
        """Ids of calls cm2's validation refused, over the whole episode (they were still sent to ToolSandbox)."""
        self._evaluated: tuple[int, Any] | None = None
        self.executed: list[dict[str, Any]] = []
        self._substitute_ids: dict[str, str] = {}
        """Model-given call ids that are not identifiers → the ids ToolSandbox's code sees."""
        with _ts.in_context(self) as ctx:  # what Scenario.play does first: run the system's setup code
            db = ctx.get_database(DatabaseNamespace.SANDBOX, drop_sandbox_message_index=False,
                                  get_all_history_snapshots=True)
            for i in range(ctx.max_sandbox_message_index + 1):
                if db["recipient"][i] == RoleType.EXECUTION_ENVIRONMENT and db["sender"][i] == RoleType.SYSTEM:
                    ExecutionEnvironment().respond(ending_index=i)
        self.start_index = self.context.max_sandbox_message_index
        self.message_limit = self.start_index + int(self.scenario.max_messages)

    def _check_limit(self) -> bool:
        """``Scenario.play``'s loop condition, evaluated after a role's messages were added: True (and
        :attr:`truncated` set) once no role may respond any more."""
        from tool_sandbox.common.execution_context import get_current_context

        if get_current_context().max_sandbox_message_index >= self.message_limit:
            self.truncated = True
        return self.truncated

    # ------------------------------------------------------------------ agent view
    def agent_tools(self) -> list[dict[str, Any]]:
        """The OpenAI tool schemas ToolSandbox's OpenAI agent is given (agent-facing, possibly scrambled)."""
        from tool_sandbox.common.tool_conversion import convert_to_openai_tools
        from tool_sandbox.roles.openai_api_agent import OpenAIAPIAgent

        with _ts.in_context(self):
            return [dict(t) for t in convert_to_openai_tools(OpenAIAPIAgent.get_available_tools())]

    def agent_messages(self) -> list[dict[str, Any]]:
        """The OpenAI messages the agent sees now (system + user so far), as ToolSandbox renders them."""
        from tool_sandbox.common.message_conversion import to_openai_messages
        from tool_sandbox.roles.openai_api_agent import OpenAIAPIAgent

        with _ts.in_context(self):
            msgs = OpenAIAPIAgent.filter_messages(OpenAIAPIAgent.get_messages())
            return to_openai_messages(msgs)[0]

    def user_view(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(messages, tools) exactly as ToolSandbox's ``OpenAIAPIUser.respond`` builds them for its model: the
        user-visible SANDBOX rows (user instruction and few-shot dialogues as their own system/user/assistant
        messages, roles reversed), and the user's tools (``end_conversation``) when the agent spoke last."""
        from tool_sandbox.common.execution_context import RoleType
        from tool_sandbox.common.tool_conversion import convert_to_openai_tool
        from tool_sandbox.roles.openai_api_user import OpenAIAPIUser

        with _ts.in_context(self):
            messages = OpenAIAPIUser.filter_messages(OpenAIAPIUser.get_messages())
            tools = ([dict(convert_to_openai_tool(t)) for t in OpenAIAPIUser.get_available_tools().values()]
                     if messages and messages[-1].sender == RoleType.AGENT else [])
            return [dict(m) for m in OpenAIAPIUser.to_openai_messages(messages)], tools

    # ------------------------------------------------------------------ mirroring
    def _add(self, messages: list[Any]) -> None:
        from tool_sandbox.roles.base_role import BaseRole

        BaseRole.add_messages(messages)

    def _safe_id(self, call_id: str) -> str:
        """``call_id`` when it is a plain Python identifier, else a stable substitute for this session."""
        if _IDENTIFIER.fullmatch(call_id or "") and not keyword.iskeyword(call_id):
            return call_id
        return self._substitute_ids.setdefault(call_id, f"cm2_call_{len(self._substitute_ids)}")

    def call_batch(self, calls: list[ToolCall]) -> list[ToolResult]:
        """Execute one assistant message's calls as one ToolSandbox batch; results in call order."""
        from openai.types.chat.chat_completion_message_tool_call import ChatCompletionMessageToolCall, Function
        from tool_sandbox.common.execution_context import RoleType, get_current_context
        from tool_sandbox.common.message_conversion import Message, openai_tool_call_to_python_code
        from tool_sandbox.roles.execution_environment import ExecutionEnvironment
        from tool_sandbox.roles.openai_api_agent import OpenAIAPIAgent

        if self.closed or self.ended or self.truncated:
            return [error_result("session_closed", "the conversation is over", source="executor") for _ in calls]
        with _ts.in_context(self):
            names = set(OpenAIAPIAgent.get_available_tools().keys())
            ctx = get_current_context()
            out_msgs = []
            for c in calls:
                # ToolSandbox pastes the call id into Python source (`{id}_parameters = ...`): a model-chosen id is
                # never used there unless it is a plain identifier (no code injection through a dict action's id)
                tc = ChatCompletionMessageToolCall(
                    id=self._safe_id(c.id), type="function",
                    function=Function(name=c.name, arguments=json.dumps(c.arguments or {}, ensure_ascii=False)))
                try:
                    code = openai_tool_call_to_python_code(
                        tc, names, execution_facing_tool_name=ctx.get_execution_facing_tool_name(c.name))
                except Exception as e:  # noqa: BLE001 - e.g. unknown tool: ToolSandbox's agent would crash; we report
                    code = f"raise KeyError({str(e)!r})"
                out_msgs.append(Message(sender=RoleType.AGENT, recipient=RoleType.EXECUTION_ENVIRONMENT, content=code,
                                        openai_tool_call_id=tc.id, openai_function_name=c.name))
            self._add(out_msgs)
            if self._check_limit():  # ToolSandbox's loop stops before the execution environment responds
                return [error_result("max_messages", f"the scenario's limit of {self.scenario.max_messages} "
                                     "messages was reached; the call was not executed", source="executor")
                        for _ in calls]
            before = get_current_context().max_sandbox_message_index
            ExecutionEnvironment().respond()
            self._check_limit()
            from tool_sandbox.common.execution_context import DatabaseNamespace

            db = get_current_context().get_database(DatabaseNamespace.SANDBOX, drop_sandbox_message_index=False,
                                                    get_all_history_snapshots=True)
            new = [r for r in db.to_dicts() if r["sandbox_message_index"] > before]
        by_id = {r.get("openai_tool_call_id"): r for r in new}
        results = []
        for c in calls:
            r = by_id.get(self._safe_id(c.id)) or {}
            exc = r.get("tool_call_exception")
            content = r.get("content") or ""
            self.executed.append({"name": c.name, "arguments": dict(c.arguments or {}), "content": content,
                                  "exception": exc, "call_id": c.id})
            results.append(ToolResult(content, source="executor", error="execution_error" if exc else None,
                                      meta={"tool_call_exception": exc} if exc else {}))
        return results

    async def call(self, call: ToolCall) -> ToolResult:
        return self.call_batch([call])[0]

    def agent_reply(self, content: str) -> None:
        from tool_sandbox.common.execution_context import RoleType
        from tool_sandbox.common.message_conversion import Message

        if self.ended or self.truncated:
            return
        with _ts.in_context(self):
            self._add([Message(sender=RoleType.AGENT, recipient=RoleType.USER, content=content or "")])
            self._check_limit()

    def user_says(self, content: str) -> None:
        from tool_sandbox.common.execution_context import RoleType
        from tool_sandbox.common.message_conversion import Message

        if self.ended or self.truncated:
            return
        with _ts.in_context(self):
            self._add([Message(sender=RoleType.USER, recipient=RoleType.AGENT, content=content)])
            self._check_limit()

    def end_conversation(self) -> None:
        """The user's ``end_conversation()`` call, executed by ToolSandbox (as its user simulator ends)."""
        from tool_sandbox.common.execution_context import RoleType
        from tool_sandbox.common.message_conversion import Message
        from tool_sandbox.roles.execution_environment import ExecutionEnvironment

        if self.ended or self.truncated:
            return
        with _ts.in_context(self):
            self._add([Message(sender=RoleType.USER, recipient=RoleType.EXECUTION_ENVIRONMENT,
                               content="end_conversation()")])
            if not self._check_limit():
                ExecutionEnvironment().respond()
        self.ended = True

    def evaluate(self) -> Any:
        """ToolSandbox's own ``Evaluation.evaluate`` on this episode's context (an ``EvaluationResult``), computed
        once per state of the SANDBOX table (every change of a database comes with a message)."""
        with _ts.in_context(self) as ctx:
            key = ctx.max_sandbox_message_index
            if self._evaluated is None or self._evaluated[0] != key:
                self._evaluated = (key, self.scenario.evaluation.evaluate(
                    execution_context=ctx, max_turn_count=self.scenario.max_messages))
            return self._evaluated[1]

    def close(self) -> None:
        self.closed = True


class ToolSandboxBackend:
    """Tool backend (registered as ``"toolsandbox"``): one :class:`ToolSandboxSession` per episode."""

    def session(self, task: Task, *, group_key: str | None = None, seed: int | None = None) -> ToolSandboxSession:
        return ToolSandboxSession(task)
