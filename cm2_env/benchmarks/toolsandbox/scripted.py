"""Offline scripted trajectories, played both ways:

* :func:`play_official` — ToolSandbox's own runner (``Scenario.play_and_evaluate``) with a scripted agent built on
  ToolSandbox's ``OpenAIAPIAgent`` (only ``model_inference`` is replaced: it returns the next scripted message) and
  a scripted user role (follow-ups, then ``end_conversation()`` as ToolSandbox's user simulator ends).
* :func:`play_adapter` — the same script through ``ToolSandboxEnv`` (scripted user with the same follow-ups).

A script is the list of assistant messages (OpenAI dicts: ``content`` and/or ``tool_calls``) of the whole episode;
a message without tool calls ends the agent's turn.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any, Sequence

from . import _ts

END_REPLY = "Is there anything else?"


def _completion(msg: dict[str, Any]) -> Any:
    from openai.types.chat import ChatCompletion, ChatCompletionMessage
    from openai.types.chat.chat_completion import Choice
    from openai.types.chat.chat_completion_message_tool_call import ChatCompletionMessageToolCall, Function

    calls = None
    if msg.get("tool_calls"):
        calls = []
        for tc in msg["tool_calls"]:
            args = tc["function"].get("arguments", {})
            calls.append(ChatCompletionMessageToolCall(
                id=tc["id"], type="function",
                function=Function(name=tc["function"]["name"],
                                  arguments=args if isinstance(args, str) else json.dumps(args, ensure_ascii=False))))
    message = ChatCompletionMessage(role="assistant", content=msg.get("content") if calls is None else
                                    (msg.get("content") or None), tool_calls=calls)
    return ChatCompletion(id="scripted", choices=[Choice(index=0, finish_reason="stop", message=message)], created=0,
                          model="scripted", object="chat.completion")


def scripted_agent(script: Sequence[dict[str, Any]]) -> Any:
    from tool_sandbox.roles.openai_api_agent import OpenAIAPIAgent

    class ScriptedOpenAIAgent(OpenAIAPIAgent):
        model_name = "scripted"

        def __init__(self) -> None:  # no OpenAI client: inference is the script
            self.script = list(script)

        def model_inference(self, openai_messages: Any, openai_tools: Any) -> Any:
            msg = self.script.pop(0) if self.script else {"role": "assistant", "content": END_REPLY}
            return _completion(msg)

    return ScriptedOpenAIAgent()


def scripted_user(followups: Sequence[str]) -> Any:
    from tool_sandbox.common.execution_context import RoleType
    from tool_sandbox.common.message_conversion import Message
    from tool_sandbox.roles.base_role import BaseRole

    class ScriptedUser(BaseRole):
        role_type = RoleType.USER

        def __init__(self) -> None:
            self.followups = list(followups)

        def respond(self, ending_index: int | None = None) -> None:
            messages = self.get_messages(ending_index=ending_index)
            self.messages_validation(messages)
            if messages[-1].sender in (RoleType.SYSTEM, RoleType.EXECUTION_ENVIRONMENT):
                return
            if self.followups:
                self.add_messages([Message(sender=RoleType.USER, recipient=RoleType.AGENT,
                                           content=self.followups.pop(0))])
            else:
                self.add_messages([Message(sender=RoleType.USER, recipient=RoleType.EXECUTION_ENVIRONMENT,
                                           content="end_conversation()")])

    return ScriptedUser()


def play_official(scenario_name: str, script: Sequence[dict[str, Any]], followups: Sequence[str] = ()) -> Any:
    """ToolSandbox's ``play_and_evaluate`` on a fresh copy of the scenario; its ``EvaluationResult``."""
    from tool_sandbox.common import execution_context as ec
    from tool_sandbox.common.execution_context import RoleType
    from tool_sandbox.roles.execution_environment import ExecutionEnvironment

    scenario = _ts.all_scenarios()[scenario_name]
    roles = {RoleType.AGENT: scripted_agent(script), RoleType.USER: scripted_user(followups),
             RoleType.EXECUTION_ENVIRONMENT: ExecutionEnvironment()}
    with _ts.LOCK, tempfile.TemporaryDirectory() as out:
        previous = vars(ec).get("_global_execution_context")
        try:
            return scenario.play_and_evaluate(roles=roles, output_directory=Path(out),
                                              scenario_name=scenario_name).evaluation_result
        finally:
            vars(ec)["_global_execution_context"] = previous


async def arun_adapter(env: Any, task_id: str, script: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Play ``script`` in ``env`` (a ToolSandboxEnv); the final step's info."""
    script = list(script)
    _, info = await env.areset(options={"task_id": task_id})
    while True:
        msg = script.pop(0) if script else {"role": "assistant", "content": END_REPLY}
        _, _, term, trunc, info = await env.astep(msg)
        if term or trunc:
            return info


def run_adapter(env: Any, task_id: str, script: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return env._runner.run(arun_adapter(env, task_id, script))


def reference_script(task: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in m.model_dump(exclude_none=True).items() if k in ("role", "content", "tool_calls")}
            for m in task.reference or [] if m.role == "assistant"]
