"""Opt-in persistent response cache: sqlite, keyed by the canonical request, safe across processes.

WAL journal + a busy timeout let several processes (sweep workers, dataloader workers) read and write one
file. Only successful responses are stored. The key covers everything that changes the answer: endpoint
model, messages, sampling parameters, response format and a sample index (so k votes stay k samples).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any


def canonical_key(request: dict[str, Any]) -> str:
    """sha256 of the request as canonical JSON (sorted keys, no whitespace)."""
    blob = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8", errors="surrogatepass")).hexdigest()


class ResponseCache:
    """A tiny key → JSON value store on sqlite. Errors never propagate: a broken cache is just a miss."""

    def __init__(self, path: str | os.PathLike[str], busy_timeout_ms: int = 30_000):
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._pid = os.getpid()
        with self._conn() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL)"
            )

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._pid != os.getpid():  # never share a connection across fork
            self._pid = os.getpid()
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get(self, key: str) -> Any | None:
        try:
            row = self._conn().execute("SELECT value FROM responses WHERE key=?", (key,)).fetchone()
        except sqlite3.Error:
            return None
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        try:
            self._conn().execute(
                "INSERT OR REPLACE INTO responses (key, value, created) VALUES (?, ?, ?)",
                (key, json.dumps(value), time.time()),  # ASCII: sqlite cannot store lone surrogates
            )
        except sqlite3.Error:
            pass

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


_CACHES: dict[str, ResponseCache] = {}
_LOCK = threading.Lock()


def open_cache(path: str) -> ResponseCache:
    """One ResponseCache object per path per process."""
    key = str(Path(path).expanduser().resolve())
    with _LOCK:
        if key not in _CACHES:
            _CACHES[key] = ResponseCache(key)
        return _CACHES[key]
