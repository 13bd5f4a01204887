"""Assistant output → content + tool calls.

Raw text follows the hermes / Qwen convention: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``
blocks, any number per message. Calls written inside ``<think>...</think>`` are reasoning, not actions, and
are never executed. Broken JSON gets a bounded, eval-free repair; what still fails becomes a ToolCall with a
``parse_error`` (the env answers it with an error message, the episode goes on).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .types import ToolCall

THINK_RE = re.compile(r"<think>.*?(?:</think>|$)", re.S)
TOOL_CALL_RE = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.S)
_NAME_RE = re.compile(r'"name"\s*:\s*"([^"]*)"')


@dataclass
class ParsedAction:
    """The assistant message the env records, plus its parsed calls."""

    content: str
    """Text as the model wrote it (tool-call blocks removed when parsed from raw text)."""
    tool_calls: list[ToolCall] = field(default_factory=list)
    raw: str | None = None
    """The raw model text, when the action was text."""

    def to_message(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            msg["tool_calls"] = [c.to_openai() for c in self.tool_calls]
        return msg


def strip_think(text: str | None) -> str:
    """The user-visible part of an assistant message."""
    if not text:
        return ""
    if "</think>" in text and "<think>" not in text:  # templates that pre-fill <think>
        text = text.split("</think>", 1)[1]
    return THINK_RE.sub("", text).strip()


def think_text(text: str | None) -> str:
    if not text:
        return ""
    return " ".join(m.group(0) for m in THINK_RE.finditer(text))


class JSONScan:
    """A string- and escape-aware walk over JSON-like text from ``start``.

    Iterating yields ``(index, char)`` for each closing bracket outside string literals; opening brackets are
    pushed on ``stack`` as the closer they expect (the consumer pops). ``in_str`` tells, at the end, whether
    the text stopped inside a string.
    """

    def __init__(self, text: str, start: int = 0):
        self.text = text
        self.start = start
        self.stack: list[str] = []
        self.in_str = False

    def __iter__(self) -> Iterator[tuple[int, str]]:
        esc = False
        for j in range(self.start, len(self.text)):
            c = self.text[j]
            if self.in_str:
                if esc:
                    esc = False
                elif c == "\\":
                    esc = True
                elif c == '"':
                    self.in_str = False
            elif c == '"':
                self.in_str = True
            elif c in "{[":
                self.stack.append("}" if c == "{" else "]")
            elif c in "}]":
                yield j, c


def repair_json(text: str) -> Any:
    """json.loads with a few safe repairs: code fences, trailing commas, missing closing brackets."""
    s = text.strip()
    if s.startswith("```"):
        s = re.sub(r"^```[a-zA-Z]*\s*|\s*```$", "", s)
    try:
        return json.loads(s)
    except json.JSONDecodeError:
        pass
    s = re.sub(r",\s*([}\]])", r"\1", s)
    try:
        return json.loads(s)
    except json.JSONDecodeError:
        pass
    # close unbalanced brackets (outside strings), the common truncation failure
    scan = JSONScan(s)
    for _ in scan:
        if scan.stack:
            scan.stack.pop()
    return json.loads(s + ('"' if scan.in_str else "") + "".join(reversed(scan.stack)))


MAX_NESTING = 64
"""Deepest nesting accepted in tool-call arguments; deeper (degenerate repetition, circular dict actions) is a
malformed call — it would exhaust the interpreter's recursion limit in validation, canonicalisation or JSON."""
_MAX_NODES = 200_000
JSON_ERRORS = (json.JSONDecodeError, ValueError, RecursionError)
"""What parsing model-written JSON may raise (RecursionError: nesting deeper than the decoder's stack)."""


def nesting_problem(value: Any, limit: int = MAX_NESTING) -> str | None:
    """Why ``value`` cannot be a tool call's arguments (too deep, circular, too large), or None. Iterative."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 0
    while stack:  # depth first: a circular structure runs into the depth limit at once
        node, depth = stack.pop()
        seen += 1
        if depth > limit:
            return f"arguments nest deeper than {limit} levels (or are circular)"
        if seen > _MAX_NODES:
            return f"arguments have more than {_MAX_NODES} values"
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend((v, depth + 1) for v in node)
    return None


def safe_dumps(value: Any, limit: int = 4000) -> str:
    """JSON text of ``value`` for the record, or a bounded repr when it cannot be serialised (never raises)."""
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError, OverflowError):
        return safe_text(value, limit)


def safe_text(value: Any, limit: int = 4000) -> str:
    """``str(value)`` bounded, or a placeholder when even that fails (deeply nested containers)."""
    try:
        text = value if isinstance(value, str) else str(value)
    except (RecursionError, ValueError, TypeError):
        text = f"<unprintable {type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "..."


def _call_from_obj(obj: Any, call_id: str, raw: str) -> ToolCall:
    if not isinstance(obj, dict):
        return ToolCall(call_id, "", None, raw, "tool call must be a JSON object with 'name' and 'arguments'")
    fn = obj.get("function") if isinstance(obj.get("function"), dict) else obj
    name = fn.get("name")
    args = fn.get("arguments", fn.get("parameters", {}))
    if not isinstance(name, str) or not name:
        return ToolCall(call_id, "", None, raw, "tool call has no 'name' string")
    as_text = isinstance(args, str)
    raw_args = args if as_text else ""
    if as_text:
        try:
            args = repair_json(raw_args) if raw_args.strip() else {}
        except JSON_ERRORS as e:
            return ToolCall(call_id, name, None, raw_args, f"arguments are not valid JSON: {safe_text(e, 300)}")
    problem = nesting_problem(args)
    if problem is not None:
        return ToolCall(call_id, name, None, raw_args if as_text else safe_text(args), problem)
    if not as_text:
        raw_args = safe_dumps(args)
    if not isinstance(args, dict):
        return ToolCall(call_id, name, None, raw_args, "arguments must be a JSON object")
    return ToolCall(call_id, name, args, raw_args)


def parse_text(text: str, id_prefix: str = "call") -> ParsedAction:
    """Parse hermes-style raw model text."""
    text = text if isinstance(text, str) else str(text)
    head, sep, _ = text.partition("</think>")
    prefilled = head + sep if sep and "<think>" not in head else ""  # the template pre-filled "<think>"
    rest = text[len(prefilled):]
    visible = THINK_RE.sub("", rest)
    calls: list[ToolCall] = []
    for i, m in enumerate(TOOL_CALL_RE.finditer(visible)):
        body = m.group(1).strip()
        call_id = f"{id_prefix}_{i}"
        try:
            obj = repair_json(body)
        except JSON_ERRORS as e:
            nm = _NAME_RE.search(body)
            why = f"malformed tool call JSON: {safe_text(e, 300)}"
            calls.append(ToolCall(call_id, nm.group(1) if nm else "", None, body, why))
            continue
        calls.append(_call_from_obj(obj, call_id, body))
    if calls:  # drop the executed blocks, keep reasoning (and any calls written inside it) verbatim
        thinking = prefilled + "".join(m.group(0) for m in THINK_RE.finditer(rest))
        content = (thinking + "\n" + TOOL_CALL_RE.sub("", visible).strip()).strip()
    else:
        content = text.strip()
    return ParsedAction(content=content, tool_calls=calls, raw=text)


def parse_message(msg: dict[str, Any], id_prefix: str = "call") -> ParsedAction:
    """Parse an OpenAI-format assistant message dict; ``tool_calls`` may be absent."""
    content = msg.get("content") or ""
    if not isinstance(content, str):
        content = safe_dumps(content)
    calls: list[ToolCall] = []
    raw_calls = msg.get("tool_calls") or []
    if not isinstance(raw_calls, list):
        raw_calls = [raw_calls]
    for i, tc in enumerate(raw_calls):
        call_id = tc.get("id") if isinstance(tc, dict) and isinstance(tc.get("id"), str) else f"{id_prefix}_{i}"
        calls.append(_call_from_obj(tc, call_id, safe_dumps(tc)))
    if not calls and "<tool_call>" in content:
        return parse_text(content, id_prefix)
    return ParsedAction(content=content, tool_calls=calls)


def parse_action(action: Any, id_prefix: str = "call") -> ParsedAction:
    """Raw text or OpenAI dict → ParsedAction. Anything else is treated as text."""
    if isinstance(action, dict):
        return parse_message(action, id_prefix)
    if isinstance(action, bytes):
        action = action.decode("utf-8", errors="replace")
    return parse_text(action if isinstance(action, str) else str(action), id_prefix)


PARSERS: dict[str, Callable[[Any, str], ParsedAction]] = {"hermes": parse_action}
