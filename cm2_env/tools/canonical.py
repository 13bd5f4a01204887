"""Canonical form of tool-call arguments, so equivalent calls compare equal.

Equivalences: key order, whitespace, 1 vs 1.0, and schema defaults filled in for omitted arguments.
"""

from __future__ import annotations

import json
from typing import Any


def _norm(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def fill_defaults(args: dict[str, Any], schema: dict[str, Any] | None) -> dict[str, Any]:
    if not schema:
        return args
    props = schema.get("properties") or {}
    out = dict(args)
    for name, prop in props.items():
        if not isinstance(prop, dict):
            continue
        if name not in out and "default" in prop:
            out[name] = prop["default"]
        elif isinstance(out.get(name), dict) and prop.get("type") == "object":
            out[name] = fill_defaults(out[name], prop)
    return out


def canonical_args(args: dict[str, Any] | None, schema: dict[str, Any] | None = None) -> str:
    return json.dumps(_norm(fill_defaults(args or {}, schema)), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def call_key(name: str, args: dict[str, Any] | None, schema: dict[str, Any] | None = None) -> str:
    return f"{name}\x00{canonical_args(args, schema)}"
