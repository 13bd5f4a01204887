"""Streaming JSONL in and out for the data stages: kept records, rejected records with reasons, a report.

A stage reads its input one line at a time (memory bounded by the stage's concurrency, never by the file;
:func:`iter_records` rejects unreadable lines and records without an id for it) and writes through a
:class:`StageOutput`:

- ``OUT`` (JSONL): the records the stage kept (or produced), one per line, flushed per line;
- ``OUT.rejected.jsonl``: ``{"id", "reasons": [...], "source": {...}, "record": ...}`` for each dropped input
  (a reason reads ``"key: why"``; the report counts reasons by key);
- further named outputs (:meth:`StageOutput.extra_output`, e.g. split's SFT set);
- ``OUT.report.json``: the machine-readable report (counts, per-reason counts, options, input, outputs,
  timings, stage figures such as cost), written atomically when the stage finishes; while it runs the file
  holds ``{"complete": false, "options": ...}``, so ``complete`` says whether the stage ran to the end, and a
  resumed run can tell that it was started with other options (``StageOutput.options_changed``).

Resume: reopening an output with ``resume=True`` cuts a torn last line, ``done`` holds the ids already
written to any of its files, so a stage skips them (an LLM stage then pays for no finished record again),
and the counts start from what the files hold (a resumed stage reports what a straight run would).
Unreadable lines are rejected under the id ``@line:N`` so a resumed stage does not reject them twice.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator


class DataError(ValueError):
    """A stage cannot run at all (missing input, bad option); bad *records* are rejected instead."""


@dataclass(frozen=True)
class Row:
    """One input line: its 1-based line number and either the parsed object or why it could not be read."""

    line: int
    """1-based line number in the input file."""
    value: Any = None
    """The parsed JSON value (None when ``error`` is set)."""
    error: str | None = None
    """Why the line could not be read (bad JSON, not an object)."""
    raw: bytes | None = None
    """The line as read (without its newline), so a stage that keeps a record unchanged can write it as is."""


def iter_jsonl(path: str | os.PathLike) -> Iterator[Row]:
    """The non-blank lines of a JSONL file, parsed; unreadable lines come back as rows with an ``error``."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    with p.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield Row(n, error=f"line {n}: not JSON ({exc})", raw=raw.rstrip(b"\r\n"))
                continue
            except (RecursionError, ValueError) as exc:  # nested too deeply, an integer too long
                yield Row(n, error=f"line {n}: not readable JSON ({type(exc).__name__}: {str(exc)[:200]})",
                          raw=raw.rstrip(b"\r\n"))
                continue
            if not isinstance(value, dict):
                yield Row(n, error=f"line {n}: a JSON {type(value).__name__}, not an object", raw=raw.rstrip(b"\r\n"))
                continue
            yield Row(n, value=value, raw=raw.rstrip(b"\r\n"))


def raw_text(raw: bytes | None, limit: int = 2000) -> str:
    """An unreadable line as text for the rejected file (cut to ``limit`` characters)."""
    if raw is None:
        return ""
    text = raw.decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters]"


def rejected_path_of(out: str | os.PathLike) -> Path:
    return _sibling(out, ".rejected.jsonl")


def report_path_of(out: str | os.PathLike) -> Path:
    return _sibling(out, ".report.json")


def _sibling(out: str | os.PathLike, suffix: str) -> Path:
    p = Path(out)
    stem = p.name[: -len(".jsonl")] if p.name.endswith(".jsonl") else p.name
    return p.with_name(stem + suffix)


def _cut_torn_tail(path: Path) -> None:
    """Drop a last line without its newline (a write cut by a kill)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        # find the last newline by scanning back in blocks (the file may be large)
        pos = fh.tell()
        while pos > 0:
            step = min(1 << 16, pos)
            pos -= step
            fh.seek(pos)
            block = fh.read(step)
            k = block.rfind(b"\n")
            if k >= 0:
                fh.truncate(pos + k + 1)
                return
        fh.truncate(0)


class JsonlWriter:
    """An append-only JSONL output, flushed per line; with ``resume`` it keeps what an earlier run wrote
    (cutting a torn last line) and knows the ids it holds."""

    def __init__(self, path: str | os.PathLike, *, resume: bool = True, reasons: Counter | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.ids: set[str] = set()
        """Ids of the records already in the file when it was opened (resume)."""
        self.count = 0
        """Lines in the file (those of an earlier run included)."""
        if resume and self.path.exists():
            _cut_torn_tail(self.path)
            for row in iter_jsonl(self.path):
                self.count += 1
                v = row.value
                if v is None:
                    continue
                if isinstance(v.get("id"), str):
                    self.ids.add(v["id"])
                if reasons is not None and isinstance(v.get("reasons"), list):
                    for r in v["reasons"]:
                        reasons[str(r).split(":", 1)[0]] += 1
        self._fh = self.path.open("ab" if resume else "wb")

    def write(self, obj: Any = None, *, raw: bytes | None = None) -> None:
        """Write one record (or ``raw``, a JSON line already serialised, without its newline)."""
        self._fh.write(raw + b"\n" if raw is not None else _line(obj))
        self._fh.flush()
        self.count += 1

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


@dataclass
class StageOutput:
    """The kept/rejected/report files of one stage run (a context manager; ``finish`` writes the report).

    With ``resume`` (the default) an earlier run's outputs are kept and their ids are in ``done``; the report
    then counts the whole outputs (``kept``/``rejected``/``reasons`` include what the earlier run wrote), so a
    resumed stage reports the same figures as one that ran through. An existing report is removed when the
    stage starts: a report on disk means the stage finished (the pipeline relies on it).
    """

    out: Path
    """The kept-records file."""
    stage: str
    """The stage's name, recorded in the report."""
    resume: bool = True
    """Append to existing outputs and skip the ids they hold; False starts the outputs afresh."""
    options: dict[str, Any] = field(default_factory=dict)
    """The stage's options, recorded in the report."""
    input: str | None = None
    """The input the stage reads, recorded in the report."""
    kept: int = 0
    rejected: int = 0
    skipped: int = 0
    """Inputs skipped because an earlier run of the stage already wrote them (resume)."""
    reasons: Counter = field(default_factory=Counter)
    """Rejection reasons → count (a record rejected for two reasons counts under both); the part of a reason
    before its first ``:`` is its key."""
    counters: dict[str, Any] = field(default_factory=dict)
    """Stage-specific figures merged into the report (e.g. per-rule counts, cost)."""
    done: set[str] = field(default_factory=set)
    """Ids already present in the outputs when the stage started (resume)."""
    outputs: dict[str, str] = field(default_factory=dict)
    """Named output files of the stage (``kept`` and ``rejected`` always; a stage may add more)."""
    options_changed: str = "warn"
    """What resuming outputs an earlier run wrote with other options does: ``warn`` (on stderr and in the
    report's ``resumed_with_other_options``), ``fresh`` (start the outputs afresh — right for a cheap,
    deterministic stage) or ``error`` (:class:`DataError`)."""

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.rejected_path = rejected_path_of(self.out)
        self.report_path = report_path_of(self.out)
        self._changed: list[str] = []
        prev = read_report(self.out)
        if self.resume and prev is not None and isinstance(prev.get("options"), dict):
            old, new = _plain(prev["options"]), _plain(self.options)
            self._changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            if self._changed:
                what = (f"{self.out} was written with other {self.stage} options "
                        f"(differing: {', '.join(self._changed)})")
                if self.options_changed == "error":
                    raise DataError(f"{what}; start afresh (--fresh) or write elsewhere")
                if self.options_changed == "fresh":
                    self.resume = False
                else:
                    print(f"warning: {what}; resuming anyway (--fresh starts over)", file=sys.stderr)
        self.report_path.unlink(missing_ok=True)
        self._kept = JsonlWriter(self.out, resume=self.resume)
        self._rej = JsonlWriter(self.rejected_path, resume=self.resume, reasons=self.reasons)
        self.kept, self.rejected = self._kept.count, self._rej.count
        self.done = self._kept.ids | self._rej.ids
        self.outputs = {"kept": str(self.out), "rejected": str(self.rejected_path), **self.outputs}
        self._extra: dict[str, JsonlWriter] = {}
        self._t0 = time.monotonic()
        # a report marked incomplete while the stage runs: what it runs with, for a resumed run to compare
        write_json_atomic(self.report_path, {"stage": self.stage, "complete": False, "input": self.input,
                                             "output": str(self.out), "options": self.options})

    def __enter__(self) -> "StageOutput":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def extra_output(self, name: str, path: str | os.PathLike) -> JsonlWriter:
        """A further JSONL output of the stage (e.g. split's SFT set), resumed like the others; its ids join
        ``done`` and its path is listed in the report's ``outputs``."""
        w = JsonlWriter(path, resume=self.resume)
        self._extra[name] = w
        self.outputs[name] = str(w.path)
        self.done |= w.ids
        return w

    def close(self) -> None:
        for w in (self._kept, self._rej, *self._extra.values()):
            w.close()

    def keep(self, record: dict[str, Any] | None = None, *, raw: bytes | None = None) -> None:
        """Write a kept record (or its unchanged input line ``raw``)."""
        self._kept.write(record, raw=raw)
        self.kept += 1

    def reject(self, record: Any, reasons: list[str], *, id: str | None = None,
               source: dict[str, Any] | None = None) -> None:
        """Write a dropped input with why; ``record`` may be anything (the raw row when it was unreadable)."""
        rid = id if id is not None else (record.get("id") if isinstance(record, dict) else None)
        entry = {"id": rid, "reasons": list(reasons), "source": source
                 or (record.get("source") if isinstance(record, dict) else None), "record": record}
        self._rej.write(entry)
        self.rejected += 1
        for r in reasons:
            self.reasons[r.split(":", 1)[0]] += 1

    def finish(self, **extra: Any) -> dict[str, Any]:
        """Close the files and write the report (atomically); returns it."""
        self.close()
        report = {
            "stage": self.stage,
            "complete": True,
            "input": self.input,
            "output": str(self.out),
            "rejected_file": str(self.rejected_path),
            "outputs": dict(self.outputs),
            "kept": self.kept,
            "rejected": self.rejected,
            "skipped_already_done": self.skipped,
            "reasons": dict(sorted(self.reasons.items())),
            "seconds": round(time.monotonic() - self._t0, 3),
            "options": self.options,
            **({"resumed_with_other_options": self._changed} if self._changed and self.resume else {}),
            **self.counters,
            **extra,
        }
        write_json_atomic(self.report_path, report)
        return report


def unreadable_id(line: int) -> str:
    """The id an unreadable input line is rejected under (so a resumed stage does not reject it twice)."""
    return f"@line:{line}"


def iter_records(inp: str | os.PathLike, so: StageOutput) -> Iterator[tuple[Row, dict[str, Any]]]:
    """The records of a JSONL stage input, for a stage writing through ``so``: an unreadable line is rejected
    (reason ``unreadable``, with its line number and the text), a record without a string ``id`` is rejected
    (``malformed``), and a record an earlier run already wrote (resume) is counted in ``so.skipped``."""
    file = str(inp)
    for row in iter_jsonl(inp):
        if row.error is not None:
            uid = unreadable_id(row.line)
            if uid in so.done:
                so.skipped += 1
                continue
            so.reject(raw_text(row.raw), [f"unreadable: {row.error}"], id=uid,
                      source={"file": file, "line": row.line})
            continue
        rid = row.value.get("id")
        if not isinstance(rid, str) or not rid:
            uid = unreadable_id(row.line)
            if uid in so.done:
                so.skipped += 1
                continue
            so.reject(row.value, [f"malformed: line {row.line}: the record has no string id (convert the input "
                                  f"with `cm2 data convert` first)"], id=uid, source={"file": file, "line": row.line})
            continue
        if rid in so.done:
            so.skipped += 1
            continue
        yield row, row.value


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


def read_report(out: str | os.PathLike) -> dict[str, Any] | None:
    """The report of a finished stage whose output is ``out``, or None."""
    p = report_path_of(out)
    try:
        value = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _plain(value: Any) -> Any:
    """``value`` as JSON would give it back (int keys become strings, tuples lists)."""
    return json.loads(json.dumps(value, default=str))


def _line(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode()
