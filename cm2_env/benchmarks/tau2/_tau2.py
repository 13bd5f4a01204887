"""The only module that imports ``tau2`` (sierra-research/tau2-bench 1.0.1; NOT the unrelated PyPI ``tau2``).

Before the first import it sets ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (no network at import) and, when
``TAU2_DATA_DIR`` is unset, points it at the data dir the install script recorded in the venv
(``$VENV/cm2-tau2-data-dir``): tau2 resolves its data paths at import time.

Domains are whatever tau2's registry registers; a domain whose environment or tasks cannot be built from the
data at hand (missing db/tasks file, a needed API key) is reported by :func:`domain_status`, never special-cased.
"""

from __future__ import annotations

import copy
import gc
import importlib
import os
import pickle
import sys
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

INSTALL_HINT = (
    "the tau2 adapter needs tau2-bench (package `tau2` 1.0.1, Python >= 3.12, not on PyPI); install it in its own "
    "venv with `scripts/install_tau2_env.sh .venv-tau2`"
)
DATA_DIR_FILE = Path(sys.prefix) / "cm2-tau2-data-dir"
"""Written by ``scripts/install_tau2_env.sh``: the data dir of the tau2 source it installed from."""


class Tau2NotInstalled(ImportError):
    pass


def _prepare_environ() -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    if not os.environ.get("TAU2_DATA_DIR") and DATA_DIR_FILE.is_file():
        os.environ["TAU2_DATA_DIR"] = DATA_DIR_FILE.read_text(encoding="utf-8").strip()


_QUIET = False


def _quiet_logs() -> None:
    """tau2 logs every tool response at DEBUG through loguru; keep it quiet unless CM2_TAU2_LOG is set."""
    global _QUIET
    if _QUIET or os.environ.get("CM2_TAU2_LOG"):
        return
    _QUIET = True
    try:
        from loguru import logger

        logger.disable("tau2")
    except ImportError:  # pragma: no cover
        pass


def _import(name: str):
    _prepare_environ()
    try:
        mod = importlib.import_module(name)
        _quiet_logs()
        return mod
    except ImportError as e:  # pragma: no cover - exercised only without tau2
        raise Tau2NotInstalled(f"{INSTALL_HINT} ({e})") from e


def available() -> bool:
    try:
        _import("tau2.registry")
        _import("tau2.evaluator.evaluator")
    except Exception:
        return False
    return True


def registry():
    return _import("tau2.registry").registry


def registered_domains() -> list[str]:
    """Every domain tau2 registers that also has a task set of the same name."""
    reg = registry()
    tasks = set(reg.get_task_sets())
    return [d for d in reg.get_domains() if d in tasks]


_LOCK = threading.Lock()
_BASE_ENVS: dict[str, Any] = {}
_STATUS: dict[str, str | None] = {}


def _constructor(domain: str):
    return _ORIG_CTORS.get(domain) or registry().get_env_constructor(domain)


def base_environment(domain: str):
    """The domain's environment, built once per process (parsing the DB is the slow part); only deep-copied."""
    with _LOCK:
        env = _BASE_ENVS.get(domain)
        if env is None:
            env = _BASE_ENVS[domain] = _constructor(domain)()
        return env


_ORIG_CTORS: dict[str, Any] = {}


def use_cached_constructor(domain: str) -> bool:
    """Make tau2's registry build ``domain``'s default environment (no arguments, or ``solo_mode=False``) as a
    copy of the process's cached one (:func:`fresh_environment`) instead of re-parsing its DB.

    tau2's ``evaluate_simulation`` constructs the domain environment three times per evaluation (tool types,
    predicted replay, gold replay): ~80 ms each for retail, vs ~35 ms for a copy — the same environment, as every
    episode's already is. Any other arguments go to tau2's own constructor. Set ``CM2_TAU2_NO_CACHED_CTOR=1`` to
    leave tau2's registry untouched. Returns whether the cached constructor is in place.
    """
    if os.environ.get("CM2_TAU2_NO_CACHED_CTOR"):
        return False
    reg = registry()
    domains = getattr(reg, "_domains", None)
    if not isinstance(domains, dict) or domain not in domains:
        return False
    with _LOCK:
        if domain in _ORIG_CTORS:
            return True
        orig = domains[domain]

        def cached(*args: Any, **kwargs: Any):
            if not args and all(k == "solo_mode" and v is False for k, v in kwargs.items()):
                return fresh_environment(domain)
            return orig(*args, **kwargs)

        _ORIG_CTORS[domain] = orig
        domains[domain] = cached
    return True


class original_constructors:
    """Context manager: tau2's registry with its own constructors (for independent checks of the verdict)."""

    def __enter__(self):
        domains = getattr(registry(), "_domains", {})
        with _LOCK:
            self._saved = {d: domains[d] for d in _ORIG_CTORS if d in domains}
            for d in self._saved:
                domains[d] = _ORIG_CTORS[d]
        return self

    def __exit__(self, *exc: Any) -> None:
        domains = getattr(registry(), "_domains", {})
        with _LOCK:
            domains.update(self._saved)


_PICKLED: dict[str, bytes | None] = {}


def fresh_environment(domain: str):
    """A private copy of the domain's environment (DB and toolkits copied together, so the tools act on the copy).

    The base environment is pickled once per process; each copy is a ``pickle.loads`` with the cyclic GC paused
    (retail: ~35 ms, vs ~190 ms for tau2's constructor re-parsing db.json and ~100 ms for ``copy.deepcopy``).
    An environment that does not pickle falls back to ``copy.deepcopy``.
    """
    base = base_environment(domain)
    with _LOCK:
        if domain not in _PICKLED:
            try:
                _PICKLED[domain] = pickle.dumps(base, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001 - unpicklable toolkit: deep copies instead
                _PICKLED[domain] = None
        blob = _PICKLED[domain]
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return pickle.loads(blob) if blob is not None else copy.deepcopy(base)
    finally:
        if was_enabled:
            gc.enable()


@lru_cache(maxsize=None)
def domain_tasks(domain: str) -> tuple[Any, ...]:
    """tau2 tasks of ``domain`` (its whole task set: ``get_tasks(None)`` when it takes a split name)."""
    loader = registry().get_tasks_loader(domain)
    try:
        tasks = loader(None)
    except TypeError:
        tasks = loader()
    return tuple(tasks)


def domain_status(domain: str) -> str | None:
    """None when ``domain`` can run from the data at hand, else why not (missing file, needs a key, ...)."""
    if domain in _STATUS:
        return _STATUS[domain]
    why: str | None = None
    try:
        if domain not in registered_domains():
            why = f"tau2 registers no domain {domain!r} (registered: {', '.join(registered_domains())})"
        else:
            base_environment(domain)
            if not domain_tasks(domain):
                why = "no tasks"
    except Exception as e:  # noqa: BLE001 - missing data / key: the domain is flagged, never special-cased
        why = f"{type(e).__name__}: {str(e)[:300]}"
    _STATUS[domain] = why
    return why


def usable_domains() -> list[str]:
    return [d for d in registered_domains() if domain_status(d) is None]


def tau2_version() -> str:
    try:
        from importlib.metadata import version

        return version("tau2")
    except Exception:  # pragma: no cover
        return "unknown"
