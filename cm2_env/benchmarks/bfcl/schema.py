"""BFCL function docs → OpenAI function tools with valid JSON Schema (Draft 2020-12) parameters.

BFCL docs use Python-ish type names ("dict", "float", "tuple", "any", ...). We map them the way bfcl-eval's
own OpenAI handler does (``GORILLA_TO_OPENAPI``; float → number with ``format: float`` and the same
" This is a float type value." note in the description), recursively through ``properties`` and ``items``.
Unlike bfcl-eval we keep untyped nested values untyped (accept anything) instead of forcing "string", so
that our front-line validation never rejects a call the executable class would accept.
"""

from __future__ import annotations

import copy
from typing import Any

GORILLA_TO_JSON_SCHEMA = {
    "integer": "integer", "number": "number", "float": "number", "string": "string", "boolean": "boolean",
    "bool": "boolean", "array": "array", "list": "array", "dict": "object", "object": "object",
    "tuple": "array", "any": "string", "byte": "integer", "short": "integer", "long": "integer",
    "double": "number", "char": "string", "ArrayList": "array", "Array": "array", "HashMap": "object",
    "Hashtable": "object", "Queue": "array", "Stack": "array", "Any": "string", "String": "string",
    "Bigint": "integer",
}
"""Copy of ``bfcl_eval.constants.type_mappings.GORILLA_TO_OPENAPI``."""

_SCHEMA_KEYS = {
    "type", "description", "properties", "required", "items", "enum", "default", "format", "minimum",
    "maximum", "minItems", "maxItems", "additionalProperties", "title", "examples",
}


def _convert(schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _SCHEMA_KEYS:
            continue  # BFCL-only annotations ("optional", ...) are not JSON Schema keywords
        out[key] = value
    t = schema.get("type")
    if isinstance(t, str):
        mapped = GORILLA_TO_JSON_SCHEMA.get(t, "string")
        if t == "float":
            out["format"] = "float"
            out["description"] = (schema.get("description") or "") + " This is a float type value."
        if t == "any" or t == "Any":
            mapped = None  # anything goes (bfcl-eval says "string", but the classes accept any value)
        if mapped is None:
            out.pop("type", None)
        else:
            out["type"] = mapped
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {k: _convert(v) if isinstance(v, dict) else {} for k, v in schema["properties"].items()}
    if isinstance(schema.get("items"), dict):
        out["items"] = _convert(schema["items"])
    if "default" in out and out["default"] is None and isinstance(out.get("type"), str):
        # BFCL writes `default: null` for optional values; let null through as the class accepts it
        out["type"] = [out["type"], "null"]
    return out


RESOURCE_LIMITS: dict[tuple[str, str], dict[str, Any]] = {
    ("logarithm", "precision"): {"maximum": 1000},    # mpmath.mp.dps: a huge value stalls the process
    ("square_root", "precision"): {"maximum": 1000},  # decimal context precision: same
    ("power", "exponent"): {"maximum": 10000},        # int ** huge int: minutes of CPU and GBs of memory
}
"""Schema bounds we add so a policy cannot stall a training run through a pathological argument (the env
rejects the call at validation, so neither our executor nor the official checker ever runs it). bfcl-eval's
data stays far inside them (precision <= 10)."""


def bfcl_doc_to_tool(doc: dict[str, Any]) -> dict[str, Any]:
    """One BFCL function doc → ``{"type": "function", "function": {name, description, parameters}}``."""
    doc = copy.deepcopy(doc)
    params = _convert(doc.get("parameters") or {"type": "dict", "properties": {}})
    params["type"] = "object"
    params.setdefault("properties", {})
    if "required" in params and not params["required"]:
        params.pop("required")
    for (fn, prop), bounds in RESOURCE_LIMITS.items():
        if fn == doc["name"] and prop in params["properties"]:
            params["properties"][prop].update(bounds)
    return {
        "type": "function",
        "function": {"name": doc["name"], "description": doc.get("description", ""), "parameters": params},
    }
