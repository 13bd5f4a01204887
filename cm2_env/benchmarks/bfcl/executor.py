"""Real execution of BFCL multi-turn tools: one fresh set of class instances per episode.

Isolation: bfcl-eval's own runner keeps instances in its module's ``globals()`` keyed by model name and test id;
we never use that path. Every :class:`BFCLInstances` builds its own instances and loads them with a *deep copy*
of the task's initial configuration (the classes store references into the config dict they are given, so
sharing one config would share state). The classes keep no class-level state; the only module-level mutable
objects are long-context constant tables (e.g. ``LONG_WEATHER_EXTENSION``) that a few methods return by
reference, so every result is serialised immediately, synchronously, inside :meth:`BFCLInstances.execute`.

Results are rendered exactly as bfcl-eval's ``execute_multi_turn_func_call`` renders them for the model
(``str`` as is, ``dict`` as JSON, anything else ``str()``), and an exception becomes the same
``"Error during execution: ..."`` text, returned as data with ``ToolResult.error = "execution_error"``.
"""

from __future__ import annotations

import copy
import inspect
import json
from dataclasses import dataclass, field
from typing import Any

from ...tasks.models import Task
from ...tools.validation import error_result
from ...types import ToolCall, ToolResult
from . import _bfcl

FORBIDDEN_FUNCTIONS = ("kill", "exit", "quit", "remove", "unlink", "popen", "Popen", "run")
"""Names bfcl-eval refuses to execute (mirrors its safety list)."""


def render_result(value: Any) -> str:
    """Tool-message text for a method's return value, as bfcl-eval shows it to the model."""
    if type(value) is str:
        return value
    if type(value) is dict:
        try:
            return json.dumps(value)
        except Exception:
            return str(value)
    return str(value)


@dataclass
class ExecutedCall:
    """One call that reached the executable classes."""

    name: str
    arguments: dict[str, Any]
    content: str
    error: str | None = None
    call_id: str = ""
    """The tool-call id of the assistant message (set by the session)."""


class BFCLInstances:
    """The involved classes of one BFCL test entry, instantiated and loaded with its initial config."""

    def __init__(self, involved_classes: list[str], initial_config: dict[str, Any], long_context: bool = False):
        self.involved_classes = list(involved_classes)
        self.long_context = long_context
        self.instances: dict[str, Any] = {}
        self.method_owner: dict[str, str] = {}
        for class_name in self.involved_classes:
            instance = _bfcl.class_for(class_name)()
            if not _bfcl.is_stateless(class_name):
                instance._load_scenario(copy.deepcopy(initial_config.get(class_name, {})), long_context=long_context)
            self.instances[class_name] = instance
            for method_name, _ in inspect.getmembers(instance, predicate=inspect.ismethod):
                if not method_name.startswith("_"):
                    self.method_owner[method_name] = class_name  # later classes win, as in bfcl-eval

    @classmethod
    def for_task(cls, task: Task) -> "BFCLInstances":
        meta = bfcl_meta(task)
        return cls(meta["involved_classes"], meta["initial_config"], bool(meta.get("long_context")))

    def method(self, name: str):
        owner = self.method_owner.get(name)
        return None if owner is None else getattr(self.instances[owner], name)

    def execute(self, name: str, arguments: dict[str, Any]) -> ExecutedCall:
        """Run one call; never raises (errors come back as bfcl-eval's error text)."""
        method = self.method(name)
        if name in FORBIDDEN_FUNCTIONS:
            return ExecutedCall(name, arguments, f"Error during execution: Function call {name} is not allowed.",
                                "execution_error")
        if method is None:
            return ExecutedCall(name, arguments, f"Error during execution: name '{name}' is not defined",
                                "execution_error")
        try:
            # the classes keep argument objects in their state (e.g. post_tweet's `mentions` list, later
            # extended by `mention`): hand them a private copy so the caller's dict is never mutated
            value = method(**copy.deepcopy(arguments))
            return ExecutedCall(name, arguments, render_result(value))
        except Exception as e:  # noqa: BLE001 - the classes raise anything; errors are data
            return ExecutedCall(name, arguments, f"Error during execution: {e}", "execution_error")

    def state(self) -> dict[str, dict[str, Any]]:
        """Public attributes per stateful class (what bfcl-eval's state checker compares); live references."""
        return {
            cname: {k: v for k, v in vars(inst).items() if not k.startswith("_")}
            for cname, inst in self.instances.items()
            if not _bfcl.is_stateless(cname)
        }


def bfcl_meta(task: Task) -> dict[str, Any]:
    meta = task.metadata.get("bfcl")
    if not isinstance(meta, dict) or "involved_classes" not in meta:
        raise ValueError(f"task {task.id!r} is not a BFCL task (metadata.bfcl missing)")
    return meta


class BFCLToolSession:
    """Per-episode tool state. ``executed`` records every call that reached the classes, in order."""

    def __init__(self, task: Task, *, long_context: bool | None = None):
        self.task = task
        meta = bfcl_meta(task)
        lc = bool(meta.get("long_context")) if long_context is None else long_context
        self.instances = BFCLInstances(meta["involved_classes"], meta["initial_config"], lc)
        self.hidden_until: dict[str, int] = {k: int(v) for k, v in task.metadata.get("tools_available_from_turn", {}).items()}
        self.turn: int | None = None
        self.executed: list[ExecutedCall] = []
        self.closed = False

    # optional hook: an env that knows turn boundaries tells the session; held-out tools are refused before
    # their turn (the env's own tool list should already hide them; this is the backend-side guard)
    def begin_turn(self, turn_index: int) -> None:
        self.turn = turn_index

    async def call(self, call: ToolCall) -> ToolResult:
        return self.call_sync(call)

    def call_sync(self, call: ToolCall) -> ToolResult:
        if self.closed:
            return error_result("session_closed", "the episode is over", source="executor")
        reveal = self.hidden_until.get(call.name)
        if reveal is not None and self.turn is not None and self.turn < reveal:
            return ToolResult(
                json.dumps({"error": "unknown_tool", "message": f"no tool named {call.name!r}"}),
                source="executor", error="unknown_tool", meta={"held_out_until_turn": reveal},
            )
        if self.instances.method(call.name) is None:
            return ToolResult(
                json.dumps({"error": "unknown_tool", "message": f"no tool named {call.name!r}"}),
                source="executor", error="unknown_tool",
            )
        done = self.instances.execute(call.name, dict(call.arguments or {}))
        done.call_id = call.id
        self.executed.append(done)
        meta: dict[str, Any] = {"bfcl_class": self.instances.method_owner.get(call.name)}
        if done.error is None and done.content.startswith('{"error"'):
            meta["domain_error"] = True
        return ToolResult(done.content, source="executor", error=done.error, meta=meta)

    def state(self) -> dict[str, dict[str, Any]]:
        return self.instances.state()

    def close(self) -> None:
        self.closed = True


class BFCLToolExecutor:
    """Tool backend running BFCL's executable classes (registered as ``"bfcl"`` in ``TOOL_BACKENDS``).

    Args:
        long_context: force the long-context scenario loading on/off (default: the task's own flag).
    """

    def __init__(self, *, long_context: bool | None = None):
        self.long_context = long_context

    def session(self, task: Task, *, group_key: str | None = None, seed: int | None = None) -> BFCLToolSession:
        return BFCLToolSession(task, long_context=self.long_context)
