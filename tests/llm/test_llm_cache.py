"""The sqlite response cache shared by several processes.

Kept apart from the server tests: the spawned writers re-import this module, which must not need the test
servers (they are registered by tests/conftest.py, which a spawned child does not run).
"""

from __future__ import annotations

import multiprocessing

from cm2_env.llm.cache import ResponseCache


def _writer(path: str, start: int) -> None:
    cache = ResponseCache(path)
    for i in range(start, start + 200):
        cache.put(f"k{i}", {"text": str(i)})


def test_cache_is_safe_across_processes(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ResponseCache(path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, k * 200)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    cache = ResponseCache(path)
    assert len(cache) == 600 and cache.get("k599") == {"text": "599"}
