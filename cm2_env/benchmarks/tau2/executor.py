"""Real execution of tau2 tools: one private ``Environment`` per episode, put in the task's initial state.

The domain's environment is built once per process (:func:`._tau2.base_environment`: parsing the DB is the slow
part) and copied per episode (:func:`._tau2.fresh_environment`: a pickle round trip, DB and toolkits together,
so the tools act on the copy). Calls go
through ``Environment.get_response(ToolCall)`` — tau2's own path (errors become ``"Error: ..."`` content, then
``sync_tools``). ``executed`` records every call that ran with tau2's ``ToolMessage``: the official evaluator
builds the tau2 trajectory from it (calls refused by cm2's schema validation never reached tau2, so they are
left out of the trajectory, exactly as they never touched the DB).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from ...tasks.models import Task
from ...tools.validation import error_result
from ...types import ToolCall, ToolResult
from . import _tau2


def tau2_meta(task: Task) -> dict[str, Any]:
    meta = task.metadata.get("tau2")
    if not isinstance(meta, dict) or "domain" not in meta:
        raise ValueError(f"task {task.id!r} is not a tau2 task (metadata.tau2 missing)")
    return meta


_TASKS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def tau2_task(task: Task):
    """The tau2 ``Task`` model behind a cm2 task (parsed once per process)."""
    meta = tau2_meta(task)
    key = (task.id, json.dumps(meta["task"], sort_keys=True, default=str))
    with _LOCK:
        t = _TASKS.get(key)
    if t is None:
        t = _tau2._import("tau2.data_model.tasks").Task.model_validate(meta["task"])
        with _LOCK:
            _TASKS[key] = t
    return t


def initial_environment(task: Task):
    """A fresh environment of the task's domain in the task's initial state."""
    env = _tau2.fresh_environment(tau2_meta(task)["domain"])
    init = tau2_task(task).initial_state
    if init is not None:
        env.set_state(initialization_data=init.initialization_data,
                      initialization_actions=init.initialization_actions,
                      message_history=init.message_history or [])
    return env


_GOLD: dict[str, tuple[Any, Any]] = {}


def gold_hashes(task: Task) -> tuple[Any, Any]:
    """(DB hash, user DB hash) after the gold actions (cached per task)."""
    key = task.id + json.dumps(tau2_meta(task)["task"].get("evaluation_criteria"), sort_keys=True, default=str)
    with _LOCK:
        if key in _GOLD:
            return _GOLD[key]
    env = initial_environment(task)
    ToolCallT = _tau2._import("tau2.data_model.message").ToolCall
    crit = tau2_task(task).evaluation_criteria
    for a in (crit.actions or []) if crit else []:
        env.get_response(ToolCallT(id=a.action_id, name=a.name, arguments=a.arguments, requestor=a.requestor))
    out = (env.get_db_hash(), env.get_user_db_hash())
    with _LOCK:
        _GOLD[key] = out
    return out


@dataclass
class ExecutedCall:
    call_id: str
    name: str
    arguments: dict[str, Any]
    message: Any
    """tau2's ``ToolMessage`` for the call."""


class Tau2ToolSession:
    """Per-episode tau2 environment; ``executed`` records every call that reached it, in order."""

    def __init__(self, task: Task):
        self.task = task
        self.domain = tau2_meta(task)["domain"]
        self.env = initial_environment(task)
        self._tool_call = _tau2._import("tau2.data_model.message").ToolCall
        self.executed: list[ExecutedCall] = []
        self.closed = False
        # the user side (scripted / LLM / tau2's UserSimulator) acting on the user environment:
        self.user_executed: list[ExecutedCall] = []
        self.user_events: dict[int, list[Any]] = {}
        """tau2 messages of the user's tool calls (``UserMessage`` with calls, ``ToolMessage``), keyed by the
        index of the cm2 user message they precede (the count of user messages so far when it ends the episode)."""
        self.user_stop: str | None = None
        """The stop message the user ended with (tau2's ``###STOP###`` / ``###TRANSFER###`` / ...), if any."""
        self.end_reason: str | None = None

    def has_user_tools(self) -> bool:
        return bool(getattr(self.env, "user_tools", None))

    def call_user_tool(self, name: str, arguments: dict[str, Any], call_id: str, user_turn: int) -> Any:
        """Run one user-side tool call (tau2 requestor ``user``) on this episode's environment; returns tau2's
        ``ToolMessage`` and records it (with the calling ``UserMessage``) for the official trajectory."""
        m = _tau2._import("tau2.data_model.message")
        call = m.ToolCall(id=call_id, name=name, arguments=dict(arguments or {}), requestor="user")
        msg = self.env.get_response(call)
        self.user_executed.append(ExecutedCall(call_id, name, dict(arguments or {}), msg))
        ev = self.user_events.setdefault(user_turn, [])
        ev.append(m.UserMessage(role="user", content=None, tool_calls=[call]))
        ev.append(msg)
        return msg

    async def call(self, call: ToolCall) -> ToolResult:
        return self.call_sync(call)

    def call_sync(self, call: ToolCall) -> ToolResult:
        if self.closed:
            return error_result("session_closed", "the episode is over", source="executor")
        args = dict(call.arguments or {})
        msg = self.env.get_response(self._tool_call(id=call.id, name=call.name, arguments=args, requestor="assistant"))
        self.executed.append(ExecutedCall(call.id, call.name, args, msg))
        return ToolResult(msg.content or "", source="executor", error="execution_error" if msg.error else None,
                          meta={"tau2_domain": self.domain})

    def close(self) -> None:
        self.closed = True


class Tau2ToolExecutor:
    """Tool backend running tau2's domain tools (registered as ``"tau2"`` in ``TOOL_BACKENDS``)."""

    def session(self, task: Task, *, group_key: str | None = None, seed: int | None = None) -> Tau2ToolSession:
        return Tau2ToolSession(task)


_FEASIBLE: dict[str, tuple[bool, str]] = {}


def gold_reachable(task: Task) -> tuple[bool, str]:
    """Can replaying every gold action (assistant and user requestor, in order) satisfy the task's env assertions?

    False flags tasks that no replay of the gold can pass: the assertions need a call the gold does not list (e.g.
    an assertion on the user environment with no user-side gold action). Cached per task.
    """
    key = task.id + json.dumps(tau2_meta(task)["task"].get("evaluation_criteria"), sort_keys=True, default=str)
    with _LOCK:
        if key in _FEASIBLE:
            return _FEASIBLE[key]
    out = _gold_reachable(task)
    with _LOCK:
        _FEASIBLE[key] = out
    return out


def _gold_reachable(task: Task) -> tuple[bool, str]:
    crit = tau2_task(task).evaluation_criteria
    if crit is None or not crit.env_assertions:
        return True, "ok"
    env = initial_environment(task)
    ToolCallT = _tau2._import("tau2.data_model.message").ToolCall
    for a in crit.actions or []:
        env.get_response(ToolCallT(id=a.action_id, name=a.name, arguments=a.arguments, requestor=a.requestor))
    for ea in crit.env_assertions or []:
        try:
            if not env.run_env_assertion(ea, raise_assertion_error=False):
                return False, (f"env assertion {ea.env_type}.{ea.func_name}({json.dumps(ea.arguments)}) fails after "
                               f"replaying all {len(crit.actions or [])} gold action(s): the gold lists no call that "
                               f"makes it hold")
        except Exception as e:  # noqa: BLE001
            return False, f"env assertion {ea.func_name} errors after replaying the gold actions: {e}"
    return True, "ok"
