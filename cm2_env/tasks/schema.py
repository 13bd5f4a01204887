"""The task-file JSON Schema, generated from the pydantic models and the check-type registry.

``build_schema()`` puts every registered check type under ``ChecklistItem.check`` (a ``oneOf`` discriminated by
``type``). The file shipped beside this module (``task.schema.json``) holds the built-in types (the core's and
every bundled benchmark's); the loader validates against the live schema, so check types registered by user
code are accepted too. Regenerate after changing a model: ``python -m cm2_env.tasks.schema``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from ..judge.checks import CHECKS, CheckType
from .models import TaskFile

SCHEMA_PATH = Path(__file__).with_name("task.schema.json")


def _builtin(entry: CheckType) -> bool:
    return entry.model.__module__.startswith("cm2_env.")


def build_schema(builtin_only: bool = True) -> dict[str, Any]:
    """The task-file schema with the check types of the registry (only the built-in ones by default)."""
    types = [t for t in CHECKS.types() if _builtin(t) or not builtin_only]
    models = [(TaskFile, "validation")] + [(t.model, "validation") for t in types]
    _, top = models_json_schema(models, by_alias=True, ref_template="#/$defs/{model}")
    defs = top["$defs"]
    schema = dict(defs.pop("TaskFile"))
    names = {t.name: t.model.__name__ for t in types}
    for name, model_name in names.items():  # every spec must say which type it is
        props = defs[model_name]["properties"]
        props["type"] = {"const": name, "default": name, "type": "string", "title": "Type"}
        if "type" not in defs[model_name].setdefault("required", []):
            defs[model_name]["required"].insert(0, "type")
    item = defs["ChecklistItem"]["properties"]
    # if/then per type rather than oneOf: a bad spec is reported at its own field (e.g. ``check.max_words``)
    item["check"] = {
        "type": ["object", "null"],
        "required": ["type"],
        "properties": {"type": {"enum": sorted(names)}},
        "allOf": [
            {"if": {"type": "object", "required": ["type"], "properties": {"type": {"const": n}}},
             "then": {"$ref": f"#/$defs/{m}"}}
            for n, m in sorted(names.items())
        ],
        "default": None,
        "description": "Programmatic check deciding the item without an LLM: an object whose `type` names a "
                       "registered check type (its fields are that type's), or null.",
    }
    defs.pop("CheckSpec", None)
    schema["$defs"] = dict(sorted(defs.items()))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://cm2-env/task.schema.json"
    return schema


@lru_cache(maxsize=4)
def _live_schema(version: int) -> dict[str, Any]:
    return build_schema(builtin_only=False)


def load_schema() -> dict[str, Any]:
    """The schema the loader validates against: every check type registered now."""
    CHECKS.types()  # discovers the plugins, so the version below is final
    return _live_schema(CHECKS.version)


if __name__ == "__main__":
    SCHEMA_PATH.write_text(json.dumps(build_schema(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {SCHEMA_PATH}")
