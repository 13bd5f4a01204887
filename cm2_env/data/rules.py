"""The nine rule checks of CM2's rule-based filter, by the reference's names, as functions of a record's
``messages`` and ``tools``. Each returns None when the record passes, else why it does not (the first problem
found, as the reference reports one per rule).

Meanings follow the CM2 authors' filter (``pipeline/1_data_filtering``), with three deliberate differences,
each noted where it applies:

- ``tool_schema`` checks argument values with jsonschema (``argument_check="jsonschema"``). The reference meant
  to check only each argument's top-level ``type`` (``"types"`` here) but, through a bug, checked none
  (``"names"``: required arguments present, no unknown ones) — pick ``"names"`` to reproduce its counts.
- Wrongly typed fields (a content that is not text, tool calls that are not a list, a tool that is not an
  object) are violations of the rule that reads them, never a crash (the reference raised on some).
- The duplicate-tool rules skip entries that are not function tools (``tool_schema`` reports those; the
  reference raised).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any, Callable, Literal

import jsonschema
from jsonschema.exceptions import SchemaError

RULES = (
    "tool_schema",
    "role_order",
    "tool_call_response_match",
    "no_tool_response_in_assistant_message",
    "tool_response_json_valid",
    "duplicate_tools_by_schema",
    "duplicate_tools_by_name",
    "non_empty_content",
    "think_tags",
)
"""The rule names, in the reference's order (its report lists them so)."""

ArgumentCheck = Literal["jsonschema", "types", "names"]

EMPTY_OBJECT = {"type": "object", "properties": {}, "required": []}


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def _calls(message: dict[str, Any]) -> Any:
    return message.get("tool_calls") or []


# ----------------------------------------------------------------------------------- tool_schema

_VALIDATORS: "OrderedDict[str, Any]" = OrderedDict()
_VALIDATOR_CACHE = 4096


def _validator(schema: dict[str, Any]) -> Any:
    """A jsonschema validator for ``schema`` (cached by its canonical text; many records share tools)."""
    key = json.dumps(schema, sort_keys=True, default=str)
    v = _VALIDATORS.get(key)
    if v is None:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        v = cls(schema)
        _VALIDATORS[key] = v
        if len(_VALIDATORS) > _VALIDATOR_CACHE:
            _VALIDATORS.popitem(last=False)
    else:
        _VALIDATORS.move_to_end(key)
    return v


_PY_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def _type_ok(value: Any, expected: Any) -> bool | None:
    """Does ``value`` have the JSON type ``expected`` (a name or list of names)? None: not a known type."""
    names = expected if isinstance(expected, list) else [expected]
    known = [_PY_TYPES[n] for n in names if isinstance(n, str) and n in _PY_TYPES]
    if not known:
        return None
    return any(check(value) for check in known)


def _arguments_problem(args: dict[str, Any], params: dict[str, Any], mode: ArgumentCheck,
                       allow_extra: bool) -> str | None:
    """Why ``args`` do not fit the tool's parameter schema ``params``, or None."""
    if params.get("type") != "object":
        return f"parameters schema is not an object schema (type {_short(params.get('type'))})"
    props = params.get("properties") or {}
    if not isinstance(props, dict):
        return "parameters.properties is not an object"
    required = params.get("required") or []
    if not isinstance(required, list):
        return "parameters.required is not a list"
    for r in required:
        if r not in args:
            return f"required argument {_short(r)} missing"
    if not allow_extra:
        for name in args:
            if name not in props:
                return f"argument {_short(name)} is not a parameter of the tool"
    if mode == "types":
        for name, value in args.items():
            sub = props.get(name)
            if isinstance(sub, dict) and "type" in sub:
                ok = _type_ok(value, sub["type"])
                if ok is None:
                    return f"parameter {_short(name)} has an unknown type {_short(sub['type'])}"
                if not ok:
                    return f"argument {_short(name)}={_short(value, 60)} is not of type {_short(sub['type'])}"
    elif mode == "jsonschema":
        try:
            err = next(iter(_validator(params).iter_errors(args)), None)
        except SchemaError as e:
            return f"invalid parameters schema ({_short(e.message)})"
        except Exception as e:  # noqa: BLE001 - an unusable schema (unknown type, bad $ref, bad regex) is data
            return f"parameters schema cannot be applied ({type(e).__name__}: {_short(str(e))})"
        if err is not None:
            where = "/".join(str(p) for p in err.absolute_path) or "(arguments)"
            return f"argument {where}: {_short(err.message)}"
    return None


def tool_schema(messages: list[dict[str, Any]], tools: list[Any], *, argument_check: ArgumentCheck = "jsonschema",
                allow_extra_arguments: bool = False) -> str | None:
    """Every tool is an OpenAI function tool with a name; every assistant tool call is a function call of a
    listed tool whose arguments (a JSON object) fit its parameter schema — one schema of the name suffices when
    a name is listed twice. An empty or missing parameter schema means no parameters."""
    available: dict[str, list[dict[str, Any]]] = {}
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
            return f"tool {i} is not an OpenAI function tool ({{'type': 'function', 'function': {{...}}}})"
        fn = tool["function"]
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            return f"tool {i} has no function name"
        params = fn.get("parameters")
        if not params:
            params = EMPTY_OBJECT
        if not isinstance(params, dict):
            return f"tool {name!r}: parameters is a {type(params).__name__}, not a schema object"
        available.setdefault(name, []).append(params)
    for j, msg in enumerate(messages):
        if msg.get("role") != "assistant":
            continue
        calls = _calls(msg)
        if not isinstance(calls, list):
            return f"message {j}: tool_calls is a {type(calls).__name__}, not a list"
        for c, call in enumerate(calls):
            where = f"message {j} call {c}"
            if (not isinstance(call, dict) or call.get("type") != "function"
                    or not isinstance(call.get("function"), dict)):
                return f"{where}: not a function tool call"
            fn = call["function"]
            name = fn.get("name")
            if "arguments" not in fn:
                return f"{where} ({_short(name)}): no arguments"
            args = fn["arguments"]
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except (ValueError, RecursionError) as e:
                    return f"{where} ({_short(name)}): arguments are not JSON ({_short(str(e), 80)})"
            if not isinstance(args, dict):
                return f"{where} ({_short(name)}): arguments are a JSON {type(args).__name__}, not an object"
            if not isinstance(name, str) or name not in available:
                return f"{where}: tool {_short(name)} is not among the record's tools"
            problem = None
            for params in available[name]:
                problem = _arguments_problem(args, params, argument_check, allow_extra_arguments)
                if problem is None:
                    break
            if problem is not None:
                return f"{where} ({name}): {problem}"
    return None


# ------------------------------------------------------------------------------------ role_order


def role_order(messages: list[dict[str, Any]], tools: list[Any] | None = None) -> str | None:
    """system only first; then user; user → assistant; assistant → tool (iff it made calls) or user;
    tool → tool or assistant; the last message an assistant without calls; at least one user → assistant."""
    if not messages:
        return "no messages"
    roles = [m.get("role") for m in messages]
    for i, r in enumerate(roles):
        if r == "system" and i != 0:
            return f"system message at position {i} (only the first message may be system)"
    first = 1 if roles[0] == "system" else 0
    if len(roles) <= first:
        return "a system message and nothing else"
    if roles[first] != "user":
        return f"message {first} is {_short(roles[first])}, expected the first user message"
    for i in range(len(roles) - 1):
        cur, nxt = roles[i], roles[i + 1]
        if cur == "user":
            if nxt != "assistant":
                return f"user at {i} followed by {_short(nxt)}, not assistant"
        elif cur == "assistant":
            if nxt not in ("tool", "user"):
                return f"assistant at {i} followed by {_short(nxt)}"
            has_calls = bool(_calls(messages[i]))
            if has_calls and nxt != "tool":
                return f"assistant at {i} made tool calls but is followed by {nxt}, not tool"
            if not has_calls and nxt == "tool":
                return f"assistant at {i} made no tool call but is followed by tool"
        elif cur == "tool":
            if nxt not in ("tool", "assistant"):
                return f"tool at {i} followed by {_short(nxt)}"
        elif cur != "system":
            return f"unknown role {_short(cur)} at {i}"
    if roles[-1] != "assistant":
        return f"the last message is {_short(roles[-1])}, not assistant"
    if _calls(messages[-1]):
        return "the last message makes tool calls"
    return None


# ----------------------------------------------------------------------- tool_call_response_match


def tool_call_response_match(messages: list[dict[str, Any]], tools: list[Any] | None = None) -> str | None:
    """An assistant message with N tool calls is followed by exactly N tool messages (counts, not ids)."""
    i = 0
    while i < len(messages):
        m = messages[i]
        calls = _calls(m) if m.get("role") == "assistant" else None
        if calls:
            n = len(calls) if isinstance(calls, list) else 1
            j = i + 1
            while j < len(messages) and messages[j].get("role") == "tool":
                j += 1
            if j - i - 1 != n:
                return f"assistant at {i} made {n} tool call(s) followed by {j - i - 1} tool response(s)"
            i = j
        else:
            i += 1
    return None


# ------------------------------------------------------------------------------- content rules


def no_tool_response_in_assistant_message(messages: list[dict[str, Any]], tools: list[Any] | None = None) -> str | None:
    """No assistant content holds a ``<tool_response>`` or ``</tool_response>`` tag (a leaked tool reply)."""
    for i, m in enumerate(messages):
        if m.get("role") == "assistant":
            content = m.get("content")
            if isinstance(content, str) and content:
                for tag in ("<tool_response>", "</tool_response>"):
                    if tag in content:
                        return f"assistant at {i} contains {tag}"
    return None


def tool_response_json_valid(messages: list[dict[str, Any]], tools: list[Any] | None = None) -> str | None:
    """Every tool message's content is non-empty JSON text."""
    for i, m in enumerate(messages):
        if m.get("role") == "tool":
            content = m.get("content")
            if not isinstance(content, str):
                if content is None:
                    return f"tool message at {i} has no content"
                return f"tool message at {i}: content is a {type(content).__name__}, not text"
            if not content:
                return f"tool message at {i} has empty content"
            try:
                json.loads(content)
            except (ValueError, RecursionError) as e:
                return f"tool message at {i} is not JSON ({_short(str(e), 80)}): {_short(content, 80)}"
    return None


def non_empty_content(messages: list[dict[str, Any]], tools: list[Any] | None = None) -> str | None:
    """Every message (any role) has non-blank text content."""
    for i, m in enumerate(messages):
        content = m.get("content")
        if not isinstance(content, str):
            return f"message {i} ({_short(m.get('role'))}) has no text content"
        if not content.strip():
            return f"message {i} ({_short(m.get('role'))}) has empty content"
    return None


def think_tags(messages: list[dict[str, Any]], tools: list[Any] | None = None) -> str | None:
    """User and tool messages hold no think tag; every assistant message holds exactly one ``<think>`` before
    exactly one ``</think>``."""
    for i, m in enumerate(messages):
        role = m.get("role")
        content = m.get("content")
        content = content if isinstance(content, str) else ""
        if role in ("user", "tool"):
            if "<think>" in content or "</think>" in content:
                return f"{role} message at {i} contains a think tag"
        elif role == "assistant":
            opens, closes = content.count("<think>"), content.count("</think>")
            if opens != 1:
                return f"assistant at {i} has {opens} <think> tags, expected 1"
            if closes != 1:
                return f"assistant at {i} has {closes} </think> tags, expected 1"
            if content.find("<think>") >= content.find("</think>"):
                return f"assistant at {i} has </think> before <think>"
    return None


# ------------------------------------------------------------------------------- duplicate tools


def _strip_descriptions(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_descriptions(v) for k, v in obj.items() if k != "description"}
    if isinstance(obj, list):
        return [_strip_descriptions(v) for v in obj]
    return obj


def _function_tools(tools: list[Any]):
    for i, t in enumerate(tools):
        if isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("function"), dict):
            name = t["function"].get("name")
            if isinstance(name, str) and name:
                yield i, name, t["function"]


def duplicate_tools_by_name(messages: list[dict[str, Any]] | None, tools: list[Any]) -> str | None:
    """No two tools share a function name."""
    seen: dict[str, int] = {}
    for i, name, _ in _function_tools(tools):
        if name in seen:
            return f"tool {name!r} listed at {seen[name]} and {i}"
        seen[name] = i
    return None


def duplicate_tools_by_schema(messages: list[dict[str, Any]] | None, tools: list[Any]) -> str | None:
    """No two tools share a function name and parameter schema (descriptions ignored; empty = no parameters)."""
    seen: dict[tuple[str, str], int] = {}
    for i, name, fn in _function_tools(tools):
        params = fn.get("parameters") or EMPTY_OBJECT
        key = (name, json.dumps(_strip_descriptions(params), sort_keys=True, ensure_ascii=False, default=str))
        if key in seen:
            return f"tool {name!r} listed at {seen[key]} and {i} with the same schema"
        seen[key] = i
    return None


CHECKS: dict[str, Callable[..., str | None]] = {
    "tool_schema": tool_schema,
    "role_order": role_order,
    "tool_call_response_match": tool_call_response_match,
    "no_tool_response_in_assistant_message": no_tool_response_in_assistant_message,
    "tool_response_json_valid": tool_response_json_valid,
    "duplicate_tools_by_schema": duplicate_tools_by_schema,
    "duplicate_tools_by_name": duplicate_tools_by_name,
    "non_empty_content": non_empty_content,
    "think_tags": think_tags,
}


def record_shape_problem(record: Any) -> str | None:
    """Why ``record`` cannot be checked at all (no message list, a message that is not an object, tools that
    are not a list), or None."""
    if not isinstance(record, dict):
        return f"a {type(record).__name__}, not a record object"
    messages = record.get("messages")
    if not isinstance(messages, list):
        return "messages is missing or not a list"
    for j, m in enumerate(messages):
        if not isinstance(m, dict):
            return f"message {j} is a {type(m).__name__}, not an object"
    tools = record.get("tools", [])
    if tools is not None and not isinstance(tools, list):
        return f"tools is a {type(tools).__name__}, not a list"
    return None


__all__ = ["RULES", "CHECKS", "record_shape_problem", *RULES]
