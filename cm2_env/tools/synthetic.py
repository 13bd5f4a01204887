"""Deterministic synthetic tool results for calls the reference never made.

If a tool declares a result schema (``function.returns``, ``x-returns`` or ``response``), the value conforms
to it; otherwise a generic success object. Values derive from a hash of (task, tool, canonical arguments), so
the same call always gets the same answer — across episodes and processes.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from typing import Any

RESULT_SCHEMA_KEYS = ("returns", "x-returns", "response")


def result_schema(tool: dict[str, Any]) -> dict[str, Any] | None:
    fn = tool.get("function", tool)
    for key in RESULT_SCHEMA_KEYS:
        if isinstance(fn.get(key), dict):
            return fn[key]
    return None


def _resolve(schema: dict[str, Any], root: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """Inline a local ``$ref`` (``#/...``) and merge ``allOf`` parts, so the generator sees plain keywords."""
    if depth > 8:
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        target: Any = root
        for part in ref.lstrip("#").strip("/").split("/") if ref.strip("#/") else []:
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**_resolve(target if isinstance(target, dict) else {}, root, depth + 1), **rest}
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = _resolve(part, root, depth + 1) if isinstance(part, dict) else {}
            for k, v in part.items():
                if k == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **v}
                elif k == "required":
                    merged["required"] = sorted(set(merged.get("required", [])) | set(v))
                else:
                    merged.setdefault(k, v)
        schema = merged
    return schema


def _value(schema: dict[str, Any], rng: random.Random, depth: int = 0, root: dict[str, Any] | None = None) -> Any:
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return rng.choice(schema["enum"])
    for combo in ("oneOf", "anyOf"):
        if schema.get(combo):
            return _value(rng.choice(schema[combo]), rng, depth, root)
    typ = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), "null")
    if typ == "object":
        props = schema.get("properties") or {}
        if depth > 4:
            return {}
        return {k: _value(v if isinstance(v, dict) else {}, rng, depth + 1, root) for k, v in props.items()}
    if typ == "array":
        n = max(schema.get("minItems", 1), min(2, schema.get("maxItems", 2)))
        return [_value(schema.get("items") or {}, rng, depth + 1, root) for _ in range(n)]
    if typ in ("integer", "number"):
        lo, hi = _bounds(schema, typ == "integer")
        if typ == "integer":
            return rng.randint(math.ceil(lo), max(math.ceil(lo), math.floor(hi)))
        x = round(rng.uniform(lo, max(lo, hi)), 2)
        return x if lo <= x <= hi else (lo + hi) / 2
    if typ == "boolean":
        return rng.random() < 0.5
    if typ == "null":
        return None
    text = f"{schema.get('title', 'value')}-{rng.randrange(16**6):06x}".ljust(int(_num(schema, "minLength") or 0), "x")
    return text[: int(_num(schema, "maxLength"))] if _num(schema, "maxLength") is not None else text


def _num(schema: dict[str, Any], key: str) -> float | None:
    v = schema.get(key)
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _bounds(schema: dict[str, Any], integer: bool) -> tuple[float, float]:
    """Inclusive [lo, hi] honouring minimum/maximum and exclusiveMinimum/exclusiveMaximum (default 0..1000)."""
    lo, hi, emin, emax = (_num(schema, k) for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"))
    if lo is None and emin is not None:
        lo = math.floor(emin) + 1 if integer else emin + min(0.01, ((emax if emax is not None else emin + 1) - emin) / 4)
    if hi is None and emax is not None:
        hi = math.ceil(emax) - 1 if integer else emax - min(0.01, (emax - (lo if lo is not None else emax - 1)) / 4)
    if lo is None:
        lo = 0 if hi is None or hi >= 0 else hi - 1000
    if hi is None:
        hi = max(lo, 0) + 1000
    return lo, hi


def synthesize(task_id: str, tool: dict[str, Any], name: str, canonical: str) -> str:
    seed = int.from_bytes(hashlib.sha256(f"{task_id}\x00{name}\x00{canonical}".encode()).digest()[:8], "big")
    rng = random.Random(seed)
    schema = result_schema(tool)
    if schema is not None:
        value = _value(schema, rng)
    else:
        value = {"status": "ok", "tool": name, "arguments": json.loads(canonical), "id": f"syn-{rng.randrange(16**8):08x}"}
    if isinstance(value, dict) and (schema is None or schema.get("additionalProperties", True) is not False):
        value = {**value, "synthetic": True}  # (ToolResult.meta marks it too, when the schema forbids extra keys)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
