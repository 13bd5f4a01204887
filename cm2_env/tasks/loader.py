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
from .models import Task, TaskFile
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


def _semantic_errors(doc: dict, file: str) -> list[TaskError]:
    """Checks the schema cannot express: uniqueness, references between fields, weight sums."""
    errors: list[TaskError] = []
    seen_ids: dict[str, int] = {}
    meta_validator_cls = jsonschema.Draft202012Validator
    for ti, task in enumerate(doc.get("tasks", [])):
        tid = task.get("id")

        def err(path: list, msg: str) -> None:
            errors.append(TaskError(file, tid, json_path(["tasks", ti, *path]), msg))

        if tid in seen_ids:
            err(["id"], f"duplicate task id (also at $.tasks[{seen_ids[tid]}])")
        seen_ids.setdefault(tid, ti)

        names: dict[str, int] = {}
        for k, tool in enumerate(task.get("tools", [])):
            fn = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                err(["tools", k], "tool must be {'type': 'function', 'function': {'name': ..., 'parameters': ...}}")
                continue
            if fn["name"] in names:
                err(["tools", k, "function", "name"], f"duplicate tool name {fn['name']!r}")
            names[fn["name"]] = k
            params = fn.get("parameters", {"type": "object"})
            try:
                meta_validator_cls.check_schema(params)
            except jsonschema.SchemaError as e:
                err(["tools", k, "function", "parameters", *e.path], f"invalid JSON Schema: {e.message}")

        for t, turn in enumerate(task.get("turns", [])):
            items = turn.get("checklist", [])
            ids = [it.get("id") for it in items]
            for i, it in enumerate(items):
                if ids.count(it.get("id")) > 1 and ids.index(it.get("id")) != i:
                    err(["turns", t, "checklist", i, "id"], f"duplicate item id {it.get('id')!r} in turn {t}")
                for d, dep in enumerate(it["dependence"] if isinstance(it.get("dependence"), list) else []):
                    if dep not in ids:
                        err(["turns", t, "checklist", i, "dependence", d], f"unknown item id {dep!r} in turn {t}")
                    elif dep == it.get("id"):
                        err(["turns", t, "checklist", i, "dependence", d], "an item cannot depend on itself")
                check = it.get("check")
                for key in _tool_fields(check):
                    if check.get(key) not in (None, "*") and check.get(key) not in names:
                        err(["turns", t, "checklist", i, "check", key], f"unknown tool {check.get(key)!r}")
            weights = [it.get("weight") for it in items]
            if items and all(isinstance(w, (int, float)) for w in weights):
                total = math.fsum(weights)
                if abs(total - 1.0) > 1e-3:
                    err(["turns", t, "checklist"], f"weights sum to {total:.4f}, expected 1")

        ref = task.get("reference")
        if isinstance(ref, list):
            n_users = sum(1 for m in ref if isinstance(m, dict) and m.get("role") == "user")
            if n_users != len(task.get("turns", [])):
                err(["reference"], f"reference has {n_users} user message(s) but the task has "
                                   f"{len(task.get('turns', []))} turn(s)")
    return errors


def _from_cm2_document(doc: Any) -> Any:
    """A CM2-format record or list of records → a task document (other documents unchanged)."""
    from .cm2_format import from_cm2, is_cm2_record

    records = doc if isinstance(doc, list) else [doc]
    if not records or not all(is_cm2_record(r) for r in records):
        return doc
    return {"tasks": [from_cm2(r).model_dump(by_alias=True, exclude_none=True) for r in records]}


def validate_document(doc: Any, file: str = "<memory>") -> list[TaskError]:
    """All errors of a parsed task document (empty list = valid). CM2-format records are imported first."""
    try:
        doc = _from_cm2_document(doc)
    except (ValueError, KeyError, TypeError) as e:
        return [TaskError(file, None, "$", f"not a valid CM2 record: {e}")]
    if isinstance(doc, list):
        doc = {"tasks": doc}
    errors = [
        TaskError(file, _task_id_at(doc, tuple(e.absolute_path)), json_path(e.absolute_path), e.message)
        for e in sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if not isinstance(doc, dict):
        return errors
    # semantic checks run even when the schema failed, so one pass reports every problem; a structure too
    # broken for them (already reported by the schema) just yields no semantic errors
    try:
        semantic = _semantic_errors(doc, file)
    except (AttributeError, TypeError, KeyError):
        semantic = []
    seen = {e.path for e in errors}
    errors.extend(e for e in semantic if e.path not in seen)
    if errors:
        return errors
    try:  # constraints only pydantic knows (e.g. one operator per argument constraint)
        TaskFile.model_validate(doc)
    except ValidationError as e:
        for pe in e.errors():
            loc = tuple(pe["loc"])
            errors.append(TaskError(file, _task_id_at(doc, loc), json_path(loc), pe["msg"]))
    return errors


def parse_tasks(doc: Any, file: str = "<memory>") -> list[Task]:
    """Validate a parsed document and return its tasks; raises :class:`TaskFileError` with every error."""
    errors = validate_document(doc, file)
    if errors:
        raise TaskFileError(errors)
    doc = _from_cm2_document(doc)
    if isinstance(doc, list):
        doc = {"tasks": doc}
    return TaskFile.model_validate(doc).tasks


def read_document(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise TaskFileError([TaskError(str(path), None, "$", f"cannot read file: {e}")]) from e
    try:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise TaskFileError([TaskError(str(path), None, "$", f"invalid JSON: {e}")]) from e


def load_tasks(path: str | Path) -> list[Task]:
    """Load a task file (``.json`` document or ``.jsonl`` one task per line)."""
    return parse_tasks(read_document(path), str(path))


def validate_file(path: str | Path) -> list[TaskError]:
    try:
        doc = read_document(path)
    except TaskFileError as e:
        return e.errors
    return validate_document(doc, str(path))
