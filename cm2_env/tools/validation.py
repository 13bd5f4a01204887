"""Front-line checks of every tool call: known tool, parseable, arguments valid against the JSON schema.

Failures become structured error results (the agent sees them as tool messages and may recover).
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator

from ..types import ToolCall, ToolResult


def error_result(code: str, message: str, *, source: str = "validation", **extra: Any) -> ToolResult:
    """A structured error the agent sees as the tool message (``{"error": code, "message": ..., ...}``)."""
    body = {"error": code, "message": message, **extra}
    return ToolResult(json.dumps(body, ensure_ascii=False), source=source, error=code)


class ToolSet:
    """The tools of one task with compiled argument validators (built once per task)."""

    def __init__(self, tools: list[dict[str, Any]]):
        self.schemas: dict[str, dict[str, Any]] = {}
        self._validators: dict[str, Draft202012Validator] = {}
        for tool in tools:
            fn = tool.get("function", tool)
            params = fn.get("parameters") or {"type": "object", "properties": {}}
            self.schemas[fn["name"]] = params
            self._validators[fn["name"]] = Draft202012Validator(params)

    @property
    def names(self) -> list[str]:
        return list(self.schemas)

    def check(self, call: ToolCall) -> ToolResult | None:
        """None when the call may go to the backend, else the error result."""
        if call.parse_error:
            return error_result("malformed_tool_call", call.parse_error, tool=call.name or None)
        validator = self._validators.get(call.name)
        if validator is None:
            return error_result(
                "unknown_tool", f"no tool named {call.name!r}", tool=call.name, available=self.names
            )
        details = []
        for err in validator.iter_errors(call.arguments):
            path = list(err.absolute_path)  # where the error is; the bad field itself is appended below
            names: list = [None]
            if err.validator == "required":  # one error per missing property: name the one in the message
                missing = [f for f in err.validator_value if f not in (err.instance or {})]
                names = [next((f for f in missing if repr(f) in err.message), missing[0])] if missing else [None]
            elif err.validator == "additionalProperties" and isinstance(err.instance, dict):
                allowed = set(err.schema.get("properties", {}))
                names = [k for k in err.instance if k not in allowed] or [None]
            for n in names:
                fields = path + ([n] if n is not None else [])
                details.append({"field": ".".join(map(str, fields)) or None, "message": err.message})
        if details:
            named = ", ".join(d["field"] for d in details if d["field"]) or "arguments"
            return error_result(
                "invalid_arguments", f"invalid arguments for {call.name}: {named}", tool=call.name, details=details
            )
        return None
