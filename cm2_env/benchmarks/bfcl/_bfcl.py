"""The only module that touches the ``bfcl_eval`` package: data files, executable classes, checker.

``bfcl-eval`` is installed with ``--no-deps`` in its own virtual environment (``scripts/install_bfcl_env.sh``);
we import only modules that need nothing but the standard library and ``mpmath``: the multi-turn executable
classes (``eval_checker/multi_turn_eval/func_source_code``), the multi-turn checker and the constants modules.
Never import ``bfcl_eval.model_handler`` or ``bfcl_eval.eval_checker.eval_runner`` here: they pull in the
provider SDKs.
"""

from __future__ import annotations

import importlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

CATEGORIES = ("base", "miss_func", "miss_param", "long_context")
"""The BFCL v4 multi-turn categories this adapter supports."""

INSTALL_HINT = (
    "the BFCL adapter needs the `bfcl-eval` package; install it in a separate venv with "
    "`scripts/install_bfcl_env.sh .venv-bfcl` (it pins numpy==1.26.4, so it cannot share verl's env)"
)



class BFCLNotInstalled(ImportError):
    pass


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as e:  # pragma: no cover - exercised only without bfcl-eval
        raise BFCLNotInstalled(f"{INSTALL_HINT} ({e})") from e


def available() -> bool:
    """True when bfcl-eval and the extras it needs for multi-turn execution are importable."""
    try:
        _import("bfcl_eval.eval_checker.multi_turn_eval.func_source_code.math_api")
        _import("bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker")
    except ImportError:
        return False
    return True


@lru_cache(maxsize=1)
def data_dir() -> Path:
    pkg = _import("bfcl_eval")
    return Path(pkg.__file__).resolve().parent / "data"


@lru_cache(maxsize=1)
def backend_config():
    """bfcl-eval's class → module mapping, func-doc file mapping and stateless class list."""
    cfg = _import("bfcl_eval.constants.executable_backend_config")
    return cfg.CLASS_FILE_PATH_MAPPING, cfg.MULTI_TURN_FUNC_DOC_FILE_MAPPING, tuple(cfg.STATELESS_CLASSES)


def class_for(class_name: str) -> type:
    """The executable class (e.g. ``GorillaFileSystem``)."""
    module_map, _, _ = backend_config()
    if class_name not in module_map:
        raise KeyError(f"unknown BFCL class {class_name!r}")
    return getattr(_import(module_map[class_name]), class_name)


def is_stateless(class_name: str) -> bool:
    return class_name in backend_config()[2]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@lru_cache(maxsize=None)
def func_docs(class_name: str) -> tuple[dict[str, Any], ...]:
    """The class's BFCL function docs (``multi_turn_func_doc/<file>.json``), in file order."""
    _, doc_map, _ = backend_config()
    return tuple(_read_jsonl(data_dir() / "multi_turn_func_doc" / doc_map[class_name]))


@lru_cache(maxsize=None)
def category_entries(category: str) -> tuple[tuple[dict[str, Any], dict[str, Any]], ...]:
    """(test entry, possible answer) pairs of a multi-turn category, in file order."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown BFCL multi-turn category {category!r}; choose from {', '.join(CATEGORIES)}")
    questions = _read_jsonl(data_dir() / f"BFCL_v4_multi_turn_{category}.json")
    answers = {a["id"]: a for a in _read_jsonl(data_dir() / "possible_answer" / f"BFCL_v4_multi_turn_{category}.json")}
    return tuple((q, answers[q["id"]]) for q in questions)


@lru_cache(maxsize=1)
def additional_function_prompt() -> str:
    """The user message BFCL sends (FC mode) at the turn where held-out functions become available."""
    return _import("bfcl_eval.constants.default_prompts").DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_FC


def checker_module():
    return _import("bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker")


def checker_utils_module():
    return _import("bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils")


def bfcl_version() -> str:
    try:
        from importlib.metadata import version

        return version("bfcl-eval")
    except Exception:  # pragma: no cover
        return "unknown"
