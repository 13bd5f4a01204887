"""Bundled task suites, and the one rule that turns a ``tasks=`` argument into tasks.

A suite is a folder ``cm2_env/tasks/suites/<name>/`` of task files; ``load_suite(name)`` concatenates them.
``resolve_tasks`` turns the env's ``tasks=`` argument (suite name, file path or Task list) into tasks: a
bundled suite name wins over a same-named path.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

from .loader import load_tasks
from .models import Task

SUITES_DIR = Path(__file__).with_name("suites")


def list_suites() -> list[str]:
    return sorted(p.name for p in SUITES_DIR.iterdir() if p.is_dir() and not p.name.startswith("_"))


@lru_cache(maxsize=None)
def _load_suite_cached(name: str) -> tuple[Task, ...]:
    folder = SUITES_DIR / name
    if not folder.is_dir():
        raise KeyError(f"unknown suite {name!r}; bundled suites: {', '.join(list_suites()) or 'none'}")
    tasks: list[Task] = []
    for f in sorted(folder.glob("*.json")) + sorted(folder.glob("*.jsonl")):
        tasks.extend(load_tasks(f))
    return tuple(tasks)


@lru_cache(maxsize=64)
def _load_file_cached(path: str, mtime_ns: int, size: int) -> tuple[Task, ...]:
    return tuple(load_tasks(path))


def load_tasks_cached(path: str | Path) -> list[Task]:
    """``load_tasks`` memoised per (path, mtime, size): envs made per rollout don't re-parse the file."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return load_tasks(p)  # raises the located error
    return list(_load_file_cached(str(p.resolve()), st.st_mtime_ns, st.st_size))


def load_suite(name: str) -> list[Task]:
    """All tasks of a bundled suite (parsed once per process)."""
    return list(_load_suite_cached(name))


def is_suite_name(source: str | Path) -> bool:
    """The one rule for a ``tasks=`` string: a bundled suite name wins over a same-named path; anything else
    that looks like a file (``.json``/``.jsonl`` or an existing path) is a file; the rest is a suite name."""
    if isinstance(source, str) and source in list_suites():
        return True
    p = Path(source)
    return not (p.suffix in {".json", ".jsonl"} or p.exists())


def portable_source(source: str | Path) -> str:
    """A ``tasks=`` value that means the same from any working directory: suite names stay, files absolute."""
    return str(source) if is_suite_name(source) else str(Path(source).resolve())


def resolve_tasks(tasks: str | Path | Sequence[Task] | None, default_suite: str = "starter") -> list[Task]:
    """Suite name, task-file path, or explicit tasks → list of tasks."""
    if tasks is None:
        return load_suite(default_suite)
    if isinstance(tasks, (str, Path)):
        return load_suite(str(tasks)) if is_suite_name(tasks) else load_tasks_cached(tasks)
    out = list(tasks)
    if not all(isinstance(t, Task) for t in out):
        raise TypeError("tasks must be a suite name, a task-file path or a sequence of Task")
    return out
