"""Load and validate task files: JSON Schema first, then semantic checks; every error is located.

A task file is either ``{"version": 1, "tasks": [...]}`` or a bare JSON list of tasks. Errors are collected,
not raised one at a time, so ``cm2 validate`` can report all of them with file, task id and JSON path.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import jsonschema
from jsonschema.validators import validator_for
from pydantic import ValidationError

from ..judge.checks import CHECKS
from .models import Task, TaskFile, dependence_cycles, reveal_problems, variant_count_message, weight_problems
from .schema import load_schema


@dataclass(frozen=True)
class TaskError:
    """One problem in a task file."""

    file: str
    """Path of the file (or ``<memory>``)."""
    task_id: str | None
    """Id of the task the problem is in, when known."""
    path: str
    """JSON path of the offending value, e.g. ``$.tasks[0].turns[1].checklist[2].weight``."""
    message: str
    """What is wrong."""

    def __str__(self) -> str:
        where = f"task {self.task_id!r} " if self.task_id else ""
        return f"{self.file}: {where}at {self.path}: {self.message}"


class TaskFileError(ValueError):
    """Raised by :func:`load_tasks` when a file has errors; ``errors`` lists them all."""

    def __init__(self, errors: list[TaskError]):
        self.errors = errors
        head = "\n".join(f"  - {e}" for e in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(f"{len(errors)} error(s) in task file(s):\n{head}{more}")


def json_path(parts: Iterable[Any]) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


@lru_cache(maxsize=4)
def _validator_for(checks_version: int) -> jsonschema.protocols.Validator:
    schema = load_schema()
    cls = validator_for(schema)
    return cls(schema)


def _validator() -> jsonschema.protocols.Validator:
    """A validator of the live schema (rebuilt when a check type is registered)."""
    load_schema()  # discovers plugins first, so the version is final
    return _validator_for(CHECKS.version)


def _tool_fields(check: Any) -> tuple[str, ...]:
    """The fields of a raw check spec that name a task tool (declared by its check type)."""
    if not isinstance(check, dict) or not isinstance(check.get("type"), str):
        return ()
    try:
        return CHECKS.get(check["type"]).model.tool_fields
    except KeyError:
        return ()  # the schema reports the unknown type


def _task_id_at(doc: Any, path: tuple) -> str | None:
    """The id of the task a JSON path points into (``tasks[i]`` → ``doc['tasks'][i]['id']``)."""
    if len(path) >= 2 and path[0] == "tasks" and isinstance(path[1], int):
        try:
            tid = doc["tasks"][path[1]].get("id")
            return tid if isinstance(tid, str) else None
        except (KeyError, IndexError, TypeError, AttributeError):
            return None
    return None


def _semantic_errors(doc: dict, task_path=lambda i: ("tasks", i)) -> list[tuple[tuple, str]]:
    """Checks the schema cannot express: uniqueness, references between fields, weights, cycles, ``$ref``s.

    Each task is checked on its own: a task too broken for these checks (the schema reports why) yields none.
    ``task_path(i)`` is where task ``i`` is in the file, for messages that point at another task.
    """
    errors: list[tuple[tuple, str]] = []
    seen_ids: dict[Any, int] = {}
    tasks = doc.get("tasks")
    for ti, task in enumerate(tasks if isinstance(tasks, list) else []):
        if not isinstance(task, dict):
            continue
        found: list[tuple[tuple, str]] = []
        try:
            _task_semantic_errors(task, found)
        except (AttributeError, TypeError, KeyError, ValueError):
            pass  # a structure the schema already refuses; what was found so far stands
        tid = task.get("id")
        if isinstance(tid, str) and tid in seen_ids:
            found.insert(0, (("id",), f"duplicate task id (also at {json_path(task_path(seen_ids[tid]))})"))
        if isinstance(tid, str):
            seen_ids.setdefault(tid, ti)
        errors.extend((("tasks", ti, *p), m) for p, m in found)
    return errors


def _task_semantic_errors(task: dict, out: list[tuple[tuple, str]]) -> None:
    def err(path: tuple, msg: str) -> None:
        out.append((path, msg))

    names: dict[str, int] = {}
    tools = task.get("tools")
    for k, tool in enumerate(tools if isinstance(tools, list) else []):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            err(("tools", k), "tool must be {'type': 'function', 'function': {'name': ..., 'parameters': ...}}")
            continue
        if fn["name"] in names:
            err(("tools", k, "function", "name"), f"duplicate tool name {fn['name']!r}")
        names[fn["name"]] = k
        if "parameters" not in fn:
            continue
        params = fn["parameters"]
        where = ("tools", k, "function", "parameters")
        if not isinstance(params, dict):
            err(where, f"parameters must be a JSON Schema object, got {type(params).__name__}")
            continue
        try:
            jsonschema.Draft202012Validator.check_schema(params)
        except jsonschema.SchemaError as e:
            err((*where, *e.path), f"invalid JSON Schema: {e.message}")
            continue
        for p, m in _ref_problems(params):
            err((*where, *p), m)

    for p, m in reveal_problems(task.get("metadata"), names):
        err(("metadata", *p), m)

    turns = task.get("turns") if isinstance(task.get("turns"), list) else []
    checklists = [(("turns", t, "checklist"), turn.get("checklist", []), f"turn {t}")
                  for t, turn in enumerate(turns) if isinstance(turn, dict)]
    variants = task.get("checklist_variants")
    for v, variant in enumerate(variants if isinstance(variants, list) else []):
        if not isinstance(variant, list):
            continue
        if len(variant) != len(turns):
            err(("checklist_variants", v, min(len(variant), len(turns))),
                variant_count_message(v, len(variant), len(turns)))
        checklists += [(("checklist_variants", v, t), items, f"turn {t}")
                       for t, items in enumerate(variant)]
    for where, items, label in checklists:
        if isinstance(items, list):
            _checklist_errors(where, [it if isinstance(it, dict) else {} for it in items], label, names, err)

    ref = task.get("reference")
    if isinstance(ref, list):
        n_users = sum(1 for m in ref if isinstance(m, dict) and m.get("role") == "user")
        if n_users != len(turns):
            err(("reference",), f"reference has {n_users} user message(s) but the task has {len(turns)} turn(s)")
        for j, msg in enumerate(ref):
            calls = msg.get("tool_calls") if isinstance(msg, dict) else None
            for c, call in enumerate(calls if isinstance(calls, list) else []):
                problem = _reference_call_problem(call)
                if problem is not None:
                    err(("reference", j, "tool_calls", c, *problem[0]), problem[1])


def _checklist_errors(where: tuple, items: list[dict], label: str, names: dict[str, int], err) -> None:
    ids = [it.get("id") for it in items]
    for i, it in enumerate(items):
        if ids.count(it.get("id")) > 1 and ids.index(it.get("id")) != i:
            err((*where, i, "id"), f"duplicate item id {it.get('id')!r} in {label}")
        for d, dep in enumerate(it["dependence"] if isinstance(it.get("dependence"), list) else []):
            if dep not in ids:
                err((*where, i, "dependence", d), f"unknown item id {dep!r} in {label}")
            elif dep == it.get("id"):
                err((*where, i, "dependence", d), "an item cannot depend on itself")
        check = it.get("check")
        for key in _tool_fields(check):
            if check.get(key) not in (None, "*") and check.get(key) not in names:
                err((*where, i, "check", key), f"unknown tool {check.get(key)!r}")
    for p, m in dependence_cycles([(it.get("id"), it.get("dependence")) for it in items]):
        err((*where, *p), f"{m} (in {label})")
    weights = [it.get("weight") for it in items]
    bad = weight_problems(weights)
    for p, m in bad:
        err((*where, *p), _ALWAYS + m)
    if items and not bad and all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights):
        try:
            total = math.fsum(weights)
        except OverflowError:  # finite weights whose sum is not (e.g. 1e308 + 1e308)
            total = math.inf
        if abs(total - 1.0) > 1e-3:
            err(where, f"weights sum to {total:.4f}, expected 1")


_ALWAYS = "\x00"
"""Marks a semantic error reported even where the schema found another problem at the same path."""


def _reference_call_problem(call: Any) -> tuple[tuple, str] | None:
    """Why a reference tool call is not an OpenAI tool call (``function.arguments``: a string holding a JSON
    object, or empty) that the env can replay and agents can re-enact, or None."""
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict):
        return (), "a tool call must be {'type': 'function', 'function': {'name': ..., 'arguments': ...}}"
    if not isinstance(fn.get("name"), str) or not fn["name"]:
        return ("function", "name"), "a tool call needs a non-empty function name"
    args = fn.get("arguments", "")
    if not isinstance(args, str):  # OpenAI's (and CM2's) format; agents that perturb the reference parse it
        return ("function", "arguments"), (f"arguments must be a string holding a JSON object (OpenAI format), "
                                           f"got {type(args).__name__}")
    if not args.strip():
        return None
    try:
        value = json.loads(args)
    except (ValueError, RecursionError) as e:
        return ("function", "arguments"), f"arguments are not valid JSON: {_short(e)}"
    if not isinstance(value, dict):
        return ("function", "arguments"), f"arguments must be a JSON object, got {type(value).__name__}"
    return None


# ------------------------------------------------------------------------------------------ $ref in tool schemas

_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_ONE = ("additionalProperties", "unevaluatedProperties", "unevaluatedItems", "items", "additionalItems",
               "contains", "propertyNames", "not", "if", "then", "else", "contentSchema")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_IN_PLACE = ("allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas")
"""Applicators that validate the same value (not a part of it): a ``$ref`` loop through them never ends."""


def _subschemas(schema: dict) -> Iterable[tuple[tuple, Any, bool]]:
    """(path, subschema, in place) for every subschema directly under ``schema``."""
    for key in _SCHEMA_MAPS:
        if isinstance(schema.get(key), dict):
            for name, sub in schema[key].items():
                yield (key, name), sub, key in _IN_PLACE
    for key in _SCHEMA_ONE:
        if isinstance(schema.get(key), (dict, bool)):
            yield (key,), schema[key], key in _IN_PLACE
    for key in _SCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            for i, sub in enumerate(schema[key]):
                yield (key, i), sub, key in _IN_PLACE


def _ref_problems(params: dict) -> list[tuple[tuple, str]]:
    """Every ``$ref``/``$dynamicRef`` of a tool's parameter schema must resolve (locally: a tool is offline and
    self-contained) to a schema, and no chain of references may loop without descending into the value — the
    env's argument validator would raise, or recurse forever, on the first call otherwise."""
    from jsonschema_specifications import REGISTRY as SPECIFICATIONS
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012

    problems: list[tuple[tuple, str]] = []
    root = DRAFT202012.create_resource(params)
    nodes: dict[int, Any] = {}  # id(schema) -> schema, for every schema of this document
    edges: dict[int, list[tuple[int, tuple]]] = {}  # in-place edges: id -> [(target id, path of the keyword)]
    work = [((), params, SPECIFICATIONS.resolver_with_root(root))]
    while work:
        path, schema, resolver = work.pop()
        if not isinstance(schema, dict) or id(schema) in nodes:
            continue
        nodes[id(schema)] = schema
        out = edges.setdefault(id(schema), [])
        try:
            resolver = resolver.in_subresource(DRAFT202012.create_resource(schema))
        except Exception as e:  # noqa: BLE001 - e.g. an `$id` that is not a URI
            problems.append(((*path, "$id"), f"invalid $id {schema.get('$id')!r}: {type(e).__name__}: {_short(e)}"))
            continue
        for key in ("$ref", "$dynamicRef"):
            ref = schema.get(key)
            if not isinstance(ref, str):
                continue
            try:
                target = resolver.lookup(ref).contents
            except Exception as e:  # noqa: BLE001 - Unresolvable, or e.g. a ValueError from a malformed URI
                remote = isinstance(e, Unresolvable) and not ref.startswith("#") and "://" in ref
                why = "remote references are not fetched (a tool schema must be self-contained)" if remote \
                    else f"{type(e).__name__}: {_short(e)}"
                problems.append(((*path, key), f"unresolvable {key} {ref!r}: {why}"))
                continue
            if not isinstance(target, (dict, bool)):
                problems.append(((*path, key), f"{key} {ref!r} points to a {type(target).__name__}, not a schema"))
            elif isinstance(target, dict):
                out.append((id(target), (*path, key)))
        for sub_path, sub, in_place in _subschemas(schema):
            if isinstance(sub, dict):
                if in_place:
                    out.append((id(sub), (*path, *sub_path)))
                work.append(((*path, *sub_path), sub, resolver))
    cycle = _in_place_cycle(edges)
    if cycle is not None:
        problems.append((cycle, "this reference loops back to itself without descending into the value "
                                "(validating any call would recurse forever)"))
    return problems


def _in_place_cycle(edges: dict[int, list[tuple[int, tuple]]]) -> tuple | None:
    """The path of a keyword on a cycle of in-place edges, if there is one (iterative DFS)."""
    state: dict[int, int] = {}  # 1 = on the current path, 2 = done
    for start in edges:
        if start in state:
            continue
        stack = [(start, iter(edges.get(start, ())))]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            step = next(it, None)
            if step is None:
                state[node] = 2
                stack.pop()
                continue
            target, path = step
            if state.get(target) == 1:
                return path
            if target not in state and target in edges:
                state[target] = 1
                stack.append((target, iter(edges[target])))
    return None


def _short(e: Any, limit: int = 200) -> str:
    try:
        text = str(e)
    except Exception:  # noqa: BLE001 - only for a message
        text = type(e).__name__
    return text if len(text) <= limit else text[:limit] + "..."


# ------------------------------------------------------------------------------------------ whole documents

MAX_DEPTH = 100
"""Deepest nesting accepted in a task document; deeper ones would exhaust the interpreter's recursion limit in
the schema validators (task file and tool schemas), in serialisation or in the env."""
_MAX_VALUE_ERRORS = 20


def _value_problems(doc: Any) -> list[tuple[tuple, str]]:
    """Problems of the raw JSON value, found without recursion: nesting deeper than :data:`MAX_DEPTH` (or a
    circular structure built in code) and strings that are not valid Unicode (lone surrogates, which JSON's
    ``\\ud800`` escapes can produce: they cannot be written as UTF-8 — records, logs, caches would fail)."""
    problems: list[tuple[tuple, str]] = []
    stack: list[tuple[Any, tuple]] = [(doc, ())]
    while stack and len(problems) < _MAX_VALUE_ERRORS:
        value, path = stack.pop()
        if isinstance(value, str):
            if not _encodable(value):
                problems.append((path, f"string is not valid Unicode (lone surrogate): {value[:40]!r}"))
            continue
        if not isinstance(value, (dict, list, tuple)):
            continue
        if len(path) >= MAX_DEPTH:
            problems.append((path, f"nested deeper than {MAX_DEPTH} levels (or circular)"))
            continue
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(k, str) and not _encodable(k):
                    problems.append(((*path, k.encode("utf-8", "backslashreplace").decode()),
                                     f"key is not valid Unicode (lone surrogate): {k[:40]!r}"))
                stack.append((v, (*path, k)))
        else:
            stack.extend((v, (*path, i)) for i, v in enumerate(value))
    return sorted(problems, key=lambda p: list(map(str, p[0])))


def _encodable(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _task_doc_errors(doc: Any, task_path=lambda i: ("tasks", i)) -> list[tuple[tuple, str]]:
    """Every error of a task document (``{"tasks": [...]}``): schema, then semantic checks, then pydantic."""
    errors = [_schema_error(e) for e in sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]
    if not isinstance(doc, dict):
        return errors
    # semantic checks run even when the schema failed, so one pass reports every problem; a structure too
    # broken for them (already reported by the schema) just yields no semantic errors
    seen = {p for p, _ in errors}
    for p, m in _semantic_errors(doc, task_path):
        if m.startswith(_ALWAYS):
            errors.append((p, m[len(_ALWAYS):]))
        elif p not in seen:
            errors.append((p, m))
    if errors:
        return errors
    try:  # constraints only pydantic knows (e.g. one operator per argument constraint)
        TaskFile.model_validate(doc)
    except ValidationError as e:
        errors.extend((tuple(pe["loc"]), pe["msg"]) for pe in e.errors())
    return errors


def _schema_error(e: jsonschema.ValidationError) -> tuple[tuple, str]:
    """(path, message) of a schema error; an ``anyOf``/``oneOf`` failure (e.g. "a list of messages, or null")
    is reported where its best alternative failed, deeper and more precise; the instance repr is bounded."""
    if e.validator in ("anyOf", "oneOf") and e.context:
        best = max(e.context, key=lambda c: len(c.absolute_path))  # the first of the deepest
        if len(best.absolute_path) > len(e.absolute_path):
            return _schema_error(best)
    return tuple(e.absolute_path), _short(e.message, 300)


def _cm2_records(doc: Any) -> list | None:
    """The CM2-format records of a document (one record or a list of them), or None for a task document."""
    from .cm2_format import is_cm2_record

    records = doc if isinstance(doc, list) else [doc]
    if not records or not all(is_cm2_record(r) for r in records):
        return None
    return records


def _record_id(record: dict) -> str | None:
    rid = record.get("uuid") or record.get("id")
    return None if rid is None else str(rid)


def _from_cm2_document(doc: Any) -> Any:
    """A CM2-format record or list of records → a task document (other documents unchanged)."""
    from .cm2_format import from_cm2

    records = _cm2_records(doc)
    if records is None:
        return doc
    return {"tasks": [from_cm2(r).model_dump(by_alias=True, exclude_none=True) for r in records]}


def _validate_cm2(doc: Any, records: list, file: str) -> list[TaskError]:
    """A CM2 document: each record is converted (unvalidated), the tasks are validated, and every error is
    mapped back to where it is in the file, under the record's uuid."""
    from .cm2_format import cm2_task_dict, record_path, shape_errors

    single = isinstance(doc, dict)

    def at(i: int) -> tuple:
        return () if single else (i,)

    out: list[TaskError] = []
    tasks, where = [], []
    for i, rec in enumerate(records):
        shape = shape_errors(rec)
        out.extend(TaskError(file, _record_id(rec), json_path((*at(i), *p)), m) for p, m in shape)
        if not shape:
            tasks.append(cm2_task_dict(rec))
            where.append(i)
    seen: set[tuple[str, str]] = set()
    for p, m in _task_doc_errors({"tasks": tasks}, lambda k: at(where[k])):
        if len(p) >= 2 and p[0] == "tasks" and isinstance(p[1], int) and p[1] < len(where):
            i = where[p[1]]
            err = TaskError(file, _record_id(records[i]), json_path((*at(i), *record_path(records[i], p[2:]))), m)
        else:
            err = TaskError(file, None, json_path(p), m)
        if (err.path, err.message) not in seen:  # the active variant is both `turns` and a variant
            seen.add((err.path, err.message))
            out.append(err)
    return out


def _validate(doc: Any, file: str) -> list[TaskError]:
    records = _cm2_records(doc)
    if records is None and isinstance(doc, list):
        doc = {"tasks": doc}
    problems = _value_problems(doc)
    if problems:
        if records is not None:
            single = isinstance(doc, dict)
            return [TaskError(file, _record_id(records[0] if single else records[p[0]]) if single or p else None,
                              json_path(p), m) for p, m in problems]
        return [TaskError(file, _task_id_at(doc, p), json_path(p), m) for p, m in problems]
    if records is not None:
        return _validate_cm2(doc, records, file)
    return [TaskError(file, _task_id_at(doc, p), json_path(p), m) for p, m in _task_doc_errors(doc)]


def validate_document(doc: Any, file: str = "<memory>") -> list[TaskError]:
    """All errors of a parsed task document (empty list = valid). CM2-format records are validated as the
    tasks they become, with errors located in the records. Never raises."""
    try:
        return _validate(doc, file)
    except Exception as e:  # noqa: BLE001 - a validator bug must read as an error, not a traceback
        return [TaskError(file, None, "$", f"internal error while validating ({type(e).__name__}: {_short(e)}); "
                                          f"please report it")]


def parse_tasks(doc: Any, file: str = "<memory>") -> list[Task]:
    """Validate a parsed document and return its tasks; raises :class:`TaskFileError` with every error."""
    errors = validate_document(doc, file)
    if errors:
        raise TaskFileError(errors)
    try:
        doc = _from_cm2_document(doc)
        if isinstance(doc, list):
            doc = {"tasks": doc}
        return TaskFile.model_validate(doc).tasks
    except ValidationError as e:  # validation and the models disagree: still only the documented error
        raise TaskFileError([TaskError(file, _task_id_at(doc, tuple(pe["loc"])), json_path(pe["loc"]), pe["msg"])
                             for pe in e.errors()]) from e
    except Exception as e:  # noqa: BLE001
        raise TaskFileError([TaskError(file, None, "$", f"internal error while loading ({type(e).__name__}: "
                                                        f"{_short(e)}); please report it")]) from e


def read_document(path: str | Path) -> Any:
    """The parsed JSON of a task file (``.jsonl``: the list of its lines); raises :class:`TaskFileError`."""
    path = Path(path)
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise TaskFileError([TaskError(file, None, "$", f"cannot read file: {e}")]) from e
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise TaskFileError([TaskError(file, None, "$", f"not UTF-8 text: byte 0x{raw[e.start]:02x} at offset "
                                                        f"{e.start} (line {line}) cannot be decoded")]) from None
    if path.suffix == ".jsonl":
        doc, errors = [], []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    doc.append(_parse_json(line))
                except ValueError as e:
                    errors.append(TaskError(file, None, f"$[{len(doc) + len(errors)}]", f"line {n}: {e}"))
        if errors:
            raise TaskFileError(errors)
        return doc
    try:
        return _parse_json(text)
    except ValueError as e:
        raise TaskFileError([TaskError(file, None, "$", str(e))]) from None


def _parse_json(text: str) -> Any:
    """``json.loads``; every failure (syntax, nesting too deep for the parser, an integer too long to convert)
    is a ``ValueError`` whose message says what is wrong."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"invalid JSON: {e}") from None
    except RecursionError:
        raise ValueError(f"invalid JSON: nested too deeply to parse (a task document may nest at most {MAX_DEPTH} levels)") from None
    except ValueError as e:  # e.g. an integer literal longer than the interpreter's digit limit
        raise ValueError(f"invalid JSON: {_short(e)}") from None


def load_tasks(path: str | Path) -> list[Task]:
    """Load a task file (``.json`` document or ``.jsonl`` one task per line)."""
    return parse_tasks(read_document(path), str(path))


def validate_file(path: str | Path) -> list[TaskError]:
    """All errors of a task file (empty list = valid). Never raises."""
    try:
        doc = read_document(path)
    except TaskFileError as e:
        return e.errors
    except Exception as e:  # noqa: BLE001 - e.g. a path that is not a path
        return [TaskError(str(path), None, "$", f"cannot read file: {type(e).__name__}: {_short(e)}")]
    return validate_document(doc, str(path))
