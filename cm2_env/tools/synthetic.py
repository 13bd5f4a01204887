"""Deterministic synthetic tool results for calls the reference never made.

If a tool declares a result schema (``function.returns``, ``x-returns`` or ``response``), the value conforms
to it; otherwise a generic success object. Values derive from a hash of (task, tool, canonical arguments), so
the same call always gets the same answer — across episodes and processes.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

RESULT_SCHEMA_KEYS = ("returns", "x-returns", "response")


def result_schema(tool: dict[str, Any]) -> dict[str, Any] | None:
    fn = tool.get("function", tool)
    for key in RESULT_SCHEMA_KEYS:
        if isinstance(fn.get(key), dict):
            return fn[key]
    return None


def _value(schema: dict[str, Any], rng: random.Random, depth: int = 0) -> Any:
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return rng.choice(schema["enum"])
    for combo in ("oneOf", "anyOf"):
        if schema.get(combo):
            return _value(rng.choice(schema[combo]), rng, depth)
    typ = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), "null")
    if typ == "object":
        props = schema.get("properties") or {}
        if depth > 4:
            return {}
        return {k: _value(v if isinstance(v, dict) else {}, rng, depth + 1) for k, v in props.items()}
    if typ == "array":
        n = max(schema.get("minItems", 1), min(2, schema.get("maxItems", 2)))
        return [_value(schema.get("items") or {}, rng, depth + 1) for _ in range(n)]
    if typ == "integer":
        lo, hi = int(schema.get("minimum", 0)), int(schema.get("maximum", 1000))
        return rng.randint(lo, max(lo, hi))
    if typ == "number":
        lo, hi = float(schema.get("minimum", 0)), float(schema.get("maximum", 1000))
        return round(rng.uniform(lo, max(lo, hi)), 2)
    if typ == "boolean":
        return rng.random() < 0.5
    if typ == "null":
        return None
    return f"{schema.get('title', 'value')}-{rng.randrange(16**6):06x}"


def synthesize(task_id: str, tool: dict[str, Any], name: str, canonical: str) -> str:
    seed = int.from_bytes(hashlib.sha256(f"{task_id}\x00{name}\x00{canonical}".encode()).digest()[:8], "big")
    rng = random.Random(seed)
    schema = result_schema(tool)
    if schema is not None:
        value = _value(schema, rng)
    else:
        value = {"status": "ok", "tool": name, "arguments": json.loads(canonical), "id": f"syn-{rng.randrange(16**8):08x}"}
    if isinstance(value, dict):
        value = {**value, "synthetic": True}
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
