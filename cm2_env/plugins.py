"""Discovery of the registrations that live outside the core: benchmark adapters and installed plugins.

Each benchmark folder may hold a ``plugin.py`` that registers its check types and components (tool backends,
users, judges) — cheaply, without importing the benchmark itself. Other packages declare an entry point in the
``cm2_env.plugins`` group naming such a module. Registries call :func:`discover_plugins` when a name is not
found, so every built-in name resolves whatever was imported first.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
from importlib import metadata

logger = logging.getLogger("cm2_env")
ENTRY_POINT_GROUP = "cm2_env.plugins"
_state = {"done": False, "running": False}


def plugin_modules() -> list[str]:
    """Module names of every benchmark plugin and installed entry point."""
    from . import benchmarks

    names = [
        f"{benchmarks.__name__}.{m.name}.plugin"
        for m in pkgutil.iter_modules(benchmarks.__path__)
        if m.ispkg and importlib.util.find_spec(f"{benchmarks.__name__}.{m.name}.plugin") is not None
    ]
    try:
        names += [ep.value for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)]
    except Exception:  # a broken distribution's metadata must not break the core
        logger.exception("reading %s entry points failed", ENTRY_POINT_GROUP)
    return names


def discover_plugins() -> None:
    """Import every plugin module once per process (re-entrant calls during the import are no-ops)."""
    if _state["done"] or _state["running"]:
        return
    _state["running"] = True
    try:
        for name in plugin_modules():
            importlib.import_module(name)
        _state["done"] = True
    finally:
        _state["running"] = False
