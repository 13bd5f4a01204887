"""Write the report (static HTML), serve it live, or draw its summary charts as PNG."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

from .model import Inputs, build_details, build_index, load_inputs
from .render import CSP_LIVE, build_html, sanitize


def build_report(paths: Iterable[str | os.PathLike], out: str | os.PathLike, labels: list[str] | None = None,
                 tasks: str | None = None, title: str | None = None) -> Path:
    """Read the runs and write the self-contained HTML report to ``out``; returns its path."""
    inputs = load_inputs(paths, labels, tasks)
    return write_report(inputs, out, title)


def write_report(inputs: Inputs, out: str | os.PathLike, title: str | None = None) -> Path:
    index = build_index(inputs, title)
    index["version"] = "static"
    page = build_html(index, build_details(inputs))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out


def default_out(paths: list[str]) -> Path:
    """``RUN.jsonl`` → ``RUN.html`` beside it (a sweep summary → ``sweep_summary.html``)."""
    p = Path(paths[0])
    if p.is_dir():
        return p / "report.html"
    return p.with_suffix(".html")


# ------------------------------------------------------------------------------------------------- live


class LiveReport:
    """The report of runs that may still be growing: sources are re-read (appended lines only) at most every
    ``min_interval`` seconds, and the index/details rebuilt when a record arrived."""

    def __init__(self, inputs: Inputs, title: str | None = None, min_interval: float = 0.5):
        self.inputs = inputs
        self.title = title
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._checked = 0.0
        self._built: tuple[str, dict[str, Any]] | None = None
        self._details: tuple[str, dict[str, Any]] | None = None

    def version(self) -> str:
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= self.min_interval:
                self._checked = now
                for r in self.inputs.runs:
                    r.refresh()
            return ".".join(str(r.version) for r in self.inputs.runs)

    def index(self) -> dict[str, Any]:
        v = self.version()
        with self._lock:
            if self._built is None or self._built[0] != v:
                idx = build_index(self.inputs, self.title)
                idx["version"] = v
                self._built = (v, sanitize(idx))
            return self._built[1]

    def details(self) -> dict[str, Any]:
        v = self.version()
        with self._lock:
            if self._details is None or self._details[0] != v:
                self._details = (v, sanitize(build_details(self.inputs)))
            return self._details[1]

    def page(self) -> str:
        return build_html(self.index(), None, live=True)


def make_server(live: LiveReport, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server of ``live`` (not started): ``/`` the page, ``/index.json``, ``/details.json``,
    ``/version.json``."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", CSP_LIVE)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = urlsplit(self.path).path
            try:
                if path in ("/", "/index.html"):
                    self._send(200, live.page().encode("utf-8"), "text/html; charset=utf-8")
                elif path == "/index.json":
                    self._send(200, _json(live.index()), "application/json")
                elif path == "/details.json":
                    self._send(200, _json(live.details()), "application/json")
                elif path == "/version.json":
                    self._send(200, _json({"version": live.version()}), "application/json")
                else:
                    self._send(404, b"not found", "text/plain")
            except (BrokenPipeError, ConnectionResetError):
                pass

    return ThreadingHTTPServer((host, port), Handler)


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


# ------------------------------------------------------------------------------------------------- PNG


class MissingMatplotlib(RuntimeError):
    pass


def write_pngs(inputs: Inputs, out_dir: str | os.PathLike, title: str | None = None) -> list[Path]:
    """Summary charts as PNG (needs matplotlib: ``pip install 'cm2-env[viz]'``): per run the score histogram,
    the per-domain mean score with its 95% CI and the end reasons; per comparison the per-task deltas."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise MissingMatplotlib(
            "cm2 view --png needs matplotlib: pip install 'cm2-env[viz]' (or pip install matplotlib)") from e
    index = build_index(inputs, title)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        p = out / name
        fig.tight_layout()
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)

    for run in index["runs"]:
        sm, slug = run["summary"], _slug(run["name"])
        hist = sm["histogram"]
        fig, ax = plt.subplots(figsize=(6, 3.4))
        width = hist["edges"][1] - hist["edges"][0]
        ax.bar(hist["edges"][:-1], hist["counts"], width=width * 0.92, align="edge", color="#5b8def")
        mean = sm["score"]["mean"]
        if mean is not None:
            ax.axvline(mean, color="#c62f3a", lw=1.5, label=f"mean {mean:.3f}")
            ax.legend()
        ax.set(xlabel="checklist score", ylabel="episodes", xlim=(0, 1), title=f"{run['name']}: score histogram")
        save(fig, f"{slug}_score_hist.png")

        doms = sm["domains"]
        fig, ax = plt.subplots(figsize=(7, 0.8 + 0.35 * max(len(doms), 1)))
        ys = range(len(doms))
        means = [d["mean"] or 0.0 for d in doms]
        err = [[(d["mean"] or 0) - d["ci95"][0] if d["ci95"] else 0 for d in doms],
               [d["ci95"][1] - (d["mean"] or 0) if d["ci95"] else 0 for d in doms]]
        ax.barh(list(ys), means, xerr=err, color="#3aa86b", capsize=3)
        ax.set_yticks(list(ys), [f"{d['domain']} ({d['episodes']})" for d in doms])
        ax.invert_yaxis()
        ax.set(xlim=(0, 1.05), xlabel="mean checklist score (95% CI)", title=f"{run['name']}: per domain")
        save(fig, f"{slug}_domains.png")

        ends = sm["end_reasons"]
        fig, ax = plt.subplots(figsize=(6, 0.8 + 0.35 * max(len(ends), 1)))
        ax.barh(list(ends), list(ends.values()), color="#9a7bd1")
        ax.invert_yaxis()
        ax.set(xlabel="episodes", title=f"{run['name']}: end reasons")
        save(fig, f"{slug}_end_reasons.png")

    for c in index["comparisons"]:
        a, b = index["runs"][c["a"]]["name"], index["runs"][c["b"]]["name"]
        tasks = [t for t in c["tasks"] if t["delta"] is not None][:30]
        fig, ax = plt.subplots(figsize=(7, 0.8 + 0.3 * max(len(tasks), 1)))
        ax.barh([t["task"] for t in tasks], [t["delta"] for t in tasks],
                color=["#3aa86b" if t["delta"] >= 0 else "#d9505b" for t in tasks])
        ax.invert_yaxis()
        ax.axvline(0, color="#555", lw=0.8)
        ax.set(xlabel=f"score delta ({b} − {a})", title=f"{b} vs {a}: largest per-task deltas")
        save(fig, f"compare_{_slug(a)}__{_slug(b)}.png")
    return written


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:80] or "run"
