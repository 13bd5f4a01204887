"""JSON extraction from model text and validation against a JSON Schema."""

from __future__ import annotations

import copy
import itertools
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import jsonschema

from ..parsing import JSONScan

_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)


class JSONOutputError(ValueError):
    """The text holds no JSON value that matches the schema; the message says why (used in re-asks)."""


def _balanced_objects(text: str) -> Iterator[str]:
    """Every top-level balanced {...} or [...] span, in order (string- and escape-aware), found lazily."""
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
            yield text[i: end + 1]
            i = end + 1
        else:
            i += 1


def extract_json(text: str) -> Any:
    """The first JSON value in ``text``: whole text, fenced block, or first balanced object/array.

    Raises JSONOutputError when none parses (e.g. truncated output).
    """
    if text is None:
        raise JSONOutputError("empty reply")
    stripped = _THINK.sub("", text).strip()
    if "<think>" in stripped.lower():  # unterminated think block: drop it
        stripped = stripped[: stripped.lower().index("<think>")].strip() or stripped
    # the candidates in order, each looked for only when the ones before it did not parse: a reply that is
    # one JSON value (the usual case) costs one json.loads, no fence search and no bracket scan
    candidates = itertools.chain((stripped,), (m.strip() for m in _FENCE.findall(stripped)),
                                 _balanced_objects(stripped))
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
    compiled = _compiled(schema)
    if compiled is not None and compiled.fast(value):
        return  # certainly valid: the fast check accepts only what jsonschema accepts
    validator = compiled.validator if compiled is not None else jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        path = "/".join(str(p) for p in e.absolute_path) or "(root)"
        raise JSONOutputError(f"the JSON does not match the schema at {path}: {e.message}")


# --------------------------------------------------------------------------------------------- compiled schemas
#
# jsonschema walks the schema anew for every value (a new validator, resolver and error generator per node):
# ~0.3 ms for a labeller answer. A schema is compiled once into a checker of plain Python tests that says
# True only where jsonschema (Draft 2020-12, no format assertion) finds no error: it covers the keywords
# structured-output schemas use, with exact types (a bool is no integer, a dict subclass or a float that is
# integral is "not sure"); every keyword it does not know, and every value it is not sure about, make it say
# False, and then jsonschema itself decides and words the error. So it is a shortcut, never a second opinion.


@dataclass
class _Compiled:
    source: Any
    """A copy of the schema compiled (its JSON text is the cache key)."""
    validator: Any
    """The jsonschema validator of the schema (built once): decides and words every error."""
    fast: Callable[[Any], bool]
    """True: the value is valid for the schema; False: not sure (ask ``validator``)."""


_COMPILED: dict[str, _Compiled] = {}
_COMPILED_MAX = 256
_KEYWORDS = frozenset({"type", "enum", "minimum", "maximum", "properties", "required", "additionalProperties",
                       "items", "title", "description", "default", "examples", "$comment", "deprecated",
                       "readOnly", "writeOnly"})
"""What the fast checker knows (the last eight are annotations, which never fail a value)."""
_TYPES: dict[str, tuple[type, ...]] = {"object": (dict,), "array": (list,), "string": (str,), "integer": (int,),
                                       "number": (int, float), "boolean": (bool,), "null": (type(None),)}
_PLAIN = frozenset({dict, list, str, int, float, bool, type(None)})


def _compiled(schema: Any) -> _Compiled | None:
    """The compiled form of ``schema``, cached by its JSON text (an equal schema built anew hits, a mutated one
    does not); None for a schema that is not plain JSON (validated the uncached way)."""
    try:
        key = json.dumps(schema, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return None
    hit = _COMPILED.get(key)
    if hit is not None and hit.source == schema:  # == as well: JSON text alone equates a tuple and a list
        return hit
    own = copy.deepcopy(schema)  # the caller may change its schema later; the cache entry must not change
    if len(_COMPILED) >= _COMPILED_MAX:
        _COMPILED.clear()
    hit = _COMPILED[key] = _Compiled(own, jsonschema.Draft202012Validator(own), _fast_checker(own))
    return hit


def _not_sure(value: Any) -> bool:
    return False


def _always(value: Any) -> bool:
    return True


def _fast_checker(schema: Any) -> Callable[[Any], bool]:
    """The checker of one (sub)schema (see the section comment): True only where jsonschema finds no error."""
    if schema is True:
        return _always
    if type(schema) is not dict or not all(type(k) is str and k in _KEYWORDS for k in schema):
        return _not_sure
    types: tuple[type, ...] | None = None
    if "type" in schema:
        names = schema["type"] if type(schema["type"]) is list else [schema["type"]]
        if not names or not all(type(n) is str and n in _TYPES for n in names):
            return _not_sure
        types = tuple({t for n in names for t in _TYPES[n]})
    enum: frozenset[str] | None = None
    if "enum" in schema:
        if type(schema["enum"]) is not list or not all(type(e) is str for e in schema["enum"]):
            return _not_sure
        enum = frozenset(schema["enum"])
    minimum, maximum = schema.get("minimum"), schema.get("maximum")
    for bound in (minimum, maximum):
        if bound is not None and (type(bound) not in (int, float) or bound != bound):
            return _not_sure
    props: dict[str, Callable[[Any], bool]] = {}
    if "properties" in schema:
        if type(schema["properties"]) is not dict or not all(type(k) is str for k in schema["properties"]):
            return _not_sure
        props = {k: _fast_checker(sub) for k, sub in schema["properties"].items()}
    required: tuple[str, ...] = ()
    if "required" in schema:
        if type(schema["required"]) is not list or not all(type(k) is str for k in schema["required"]):
            return _not_sure
        required = tuple(schema["required"])
    extra: Callable[[Any], bool] | None = None  # a property the schema does not name: None, anything goes
    if "additionalProperties" in schema and schema["additionalProperties"] is not True:
        extra = _fast_checker(schema["additionalProperties"])  # False: never sure, jsonschema words the error
    items = _fast_checker(schema["items"]) if "items" in schema else None

    if (types is not None and len(types) == 1 and enum is None and minimum is None and maximum is None
            and not props and not required and extra is None and items is None):
        only = types[0]
        return lambda v: type(v) is only  # a leaf such as {"type": "string"}

    def check(v: Any) -> bool:
        t = type(v)
        if t not in _PLAIN or (types is not None and t not in types):
            return False
        if t is dict:
            for k, x in v.items():
                c = props.get(k)
                if c is None:
                    if extra is not None and not extra(x):
                        return False
                elif not c(x):
                    return False
            for k in required:
                if k not in v:
                    return False
        elif t is list:
            if items is not None:
                for x in v:
                    if not items(x):
                        return False
        elif t is int or t is float:
            if minimum is not None and not v >= minimum:
                return False
            if maximum is not None and not v <= maximum:
                return False
        if enum is not None and (t is not str or v not in enum):
            return False
        return True

    return check


def parse_json_output(text: str, schema: dict[str, Any] | None) -> Any:
    value = extract_json(text)
    validate_json(value, schema)
    return value
