"""Benchmark adapters (BFCL, tau2-bench, ToolSandbox): one folder each, discovered through its ``plugin.py``."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], list[str]]:
    """A package ``__getattr__`` (and ``__all__``) that imports each name's module on first use, so importing
    an adapter package never imports its benchmark."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, sorted(exports)
