"""The task-file JSON Schema: generated from the pydantic models, shipped as ``task.schema.json``.

Regenerate after changing ``models.py``: ``python -m cm2_env.tasks.schema``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from .models import TaskFile

SCHEMA_PATH = Path(__file__).with_name("task.schema.json")


def build_schema() -> dict[str, Any]:
    schema = TaskFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://cm2-env/task.schema.json"
    return schema


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


if __name__ == "__main__":
    SCHEMA_PATH.write_text(json.dumps(build_schema(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {SCHEMA_PATH}")
