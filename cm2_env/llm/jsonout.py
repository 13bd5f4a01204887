"""JSON extraction from model text and validation against a JSON Schema."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema

from ..parsing import JSONScan

_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)


class JSONOutputError(ValueError):
    """The text holds no JSON value that matches the schema; the message says why (used in re-asks)."""


def _balanced_objects(text: str) -> list[str]:
    """Every top-level balanced {...} or [...] span, in order (string- and escape-aware)."""
    spans: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] not in "{[":
            i += 1
            continue
        scan, end = JSONScan(text, i), -1
        for j, c in scan:
            if not scan.stack or scan.stack.pop() != c:
                break
            if not scan.stack:
                end = j
                break
        if end >= 0:
            spans.append(text[i: end + 1])
            i = end + 1
        else:
            i += 1
    return spans


def extract_json(text: str) -> Any:
    """The first JSON value in ``text``: whole text, fenced block, or first balanced object/array.

    Raises JSONOutputError when none parses (e.g. truncated output).
    """
    if text is None:
        raise JSONOutputError("empty reply")
    stripped = _THINK.sub("", text).strip()
    if "<think>" in stripped.lower():  # unterminated think block: drop it
        stripped = stripped[: stripped.lower().index("<think>")].strip() or stripped
    candidates = [stripped] + [m.strip() for m in _FENCE.findall(stripped)] + _balanced_objects(stripped)
    for cand in candidates:
        if not cand:
            continue
        try:
            return json.loads(cand)
        except (json.JSONDecodeError, ValueError):
            continue
    if not stripped:
        raise JSONOutputError("empty reply")
    opened = stripped.count("{") - stripped.count("}")
    hint = " (it looks truncated)" if opened > 0 else ""
    raise JSONOutputError(f"the reply is not valid JSON{hint}")


def validate_json(value: Any, schema: dict[str, Any] | None) -> None:
    """Raise JSONOutputError naming the first violation (path + message)."""
    if not schema:
        return
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        path = "/".join(str(p) for p in e.absolute_path) or "(root)"
        raise JSONOutputError(f"the JSON does not match the schema at {path}: {e.message}")


def parse_json_output(text: str, schema: dict[str, Any] | None) -> Any:
    value = extract_json(text)
    validate_json(value, schema)
    return value
