"""Lazy access to ToolSandbox: availability, scenarios (cached per day: dates come from the wall clock) and the
global lock that guards ToolSandbox's module-global *current execution context*.

Concurrency: ToolSandbox tools read and write ``get_current_context()``. Every interaction of an episode with
ToolSandbox (executing calls, mirroring messages, evaluating) runs synchronously inside :func:`in_context`,
which installs the episode's private context, runs, takes back the (possibly replaced) context and restores the
previous one, under one process-wide re-entrant lock. Async episodes never interleave inside it (no await), and
threads serialise on the lock.
"""

from __future__ import annotations

import datetime
import random
import threading
from contextlib import contextmanager
from typing import Any, Iterator

INSTALL_HINT = "ToolSandbox is not installed: run scripts/install_toolsandbox_env.sh"
LOCK = threading.RLock()
_CACHE: dict[tuple[str, bool], dict[str, Any]] = {}


def available() -> bool:
    try:
        import tool_sandbox.scenarios  # noqa: F401
    except Exception:
        return False
    return True


def all_scenarios(*, day: str | None = None) -> dict[str, Any]:
    """``named_scenarios`` (base + augmentations), built like the official CLI (``random.seed(42)`` first),
    cached per calendar day (scenarios embed wall-clock dates)."""
    from tool_sandbox.common.tool_discovery import ToolBackend
    from tool_sandbox.scenarios import named_scenarios

    key = (day or datetime.date.today().isoformat(), True)
    if key not in _CACHE:
        with LOCK:
            state = random.getstate()
            random.seed(42)
            try:
                built = named_scenarios(preferred_tool_backend=ToolBackend.DEFAULT)
            finally:
                random.setstate(state)
            _CACHE.clear()
            _CACHE[key] = built
    return _CACHE[key]


@contextmanager
def in_context(holder: Any) -> Iterator[Any]:
    """Run with ``holder.context`` as ToolSandbox's current context; store back whatever context is current at
    the end (parallel calls replace it)."""
    from tool_sandbox.common import execution_context as ec

    with LOCK:
        previous = vars(ec).get("_global_execution_context")
        ec.set_current_context(holder.context)
        try:
            yield holder.context
        finally:
            holder.context = ec.get_current_context()
            vars(ec)["_global_execution_context"] = previous
