"""The report's data model: runs read from their JSONL files, summarised, listed and compared.

Everything the page shows is computed here, in Python, into two JSON-ready dicts:

* the **index** (:func:`build_index`): per run its summary (:func:`run_summary`) and one compact row per
  episode (:func:`episode_row`), the comparisons of every pair of runs (:func:`compare_runs`), the sweep table
  when the inputs came from a sweep summary, and the task items' questions when task files were given;
* the **details** (:func:`build_details`): per run, per episode, the transcript and everything needed to
  draw it (:func:`episode_detail`) — parsed by the page only when an episode is opened or the transcript is
  searched, so a 10k-episode report opens as fast as a small one.

Inputs (:func:`load_inputs`): run files (``cm2 run`` / ``cm2 eval`` JSONL), a sweep summary
(``sweep_summary.csv`` / ``.md`` written by ``python -m cm2_env.sweep``) or a directory holding one.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..rollout import EpisodeRecord
from ..types import VERDICT_STATUSES
from .evaluations import checklist_perfect, episode_evaluations, evaluation_summariser, summarise_evaluations

SCHEMA_VERSION = 1
HIST_BINS = 10
MAX_FLIPS = 5000
"""Flipped items kept per comparison (the count is always exact)."""
MAX_PAIRWISE_RUNS = 8
"""Up to this many runs every pair is compared; beyond it, each run against the first one only."""
SWEEP_CSV = "sweep_summary.csv"
SWEEP_MD = "sweep_summary.md"


# ------------------------------------------------------------------------------------------- reading


class RunSource:
    """One run file, read incrementally: :meth:`refresh` picks up the episodes appended since the last read
    (complete lines only: a line being written is left for the next refresh). One record per episode key, the
    last one written wins (as :func:`cm2_env.rollout.read_records`)."""

    def __init__(self, path: str | os.PathLike, name: str | None = None, meta: dict[str, Any] | None = None):
        self.path = Path(path)
        self.name = name or self.path.stem
        self.meta = dict(meta or {})
        self._by_key: dict[str, EpisodeRecord] = {}
        self._offset = 0
        self._ino: int | None = None
        self.bad_lines = 0
        self.version = 0
        """Bumped whenever the records changed."""

    @property
    def records(self) -> list[EpisodeRecord]:
        return list(self._by_key.values())

    def refresh(self) -> bool:
        """Read what was appended; True when the records changed. A file that shrank or was replaced (a resume
        repaired it) is read again from the start."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            changed = bool(self._by_key)
            self._by_key.clear()
            self._offset, self._ino = 0, None
            if changed:
                self.version += 1
            return changed
        changed = False
        if st.st_ino != self._ino or st.st_size < self._offset:
            changed = bool(self._by_key)
            self._by_key.clear()
            self._offset, self._ino, self.bad_lines = 0, st.st_ino, 0
        if st.st_size == self._offset:
            if changed:
                self.version += 1
            return changed
        with self.path.open("rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # only complete lines
        for line in data[:end].splitlines():
            if not line.strip():
                continue
            try:
                rec = EpisodeRecord.from_dict(json.loads(line))
            except (ValueError, TypeError, KeyError, AttributeError):
                self.bad_lines += 1
                continue
            self._by_key[rec.episode_key] = rec
            changed = True
        self._offset += end
        if changed:
            self.version += 1
        return changed


@dataclass
class Inputs:
    """What ``cm2 view`` was given: the runs (in order) and the sweep table when they came from a sweep."""

    runs: list[RunSource]
    sweep: dict[str, Any] | None = None
    """``{"path", "columns", "rows"}`` of a sweep summary."""
    tasks: dict[str, Any] = field(default_factory=dict)
    """task id → per turn, the items' question/weight/dependence (from ``--tasks``)."""


def load_inputs(paths: Iterable[str | os.PathLike], labels: list[str] | None = None,
                tasks: str | None = None) -> Inputs:
    """Run files, sweep summaries (CSV/Markdown) or sweep directories → :class:`Inputs` (records read)."""
    runs: list[RunSource] = []
    sweep = None
    for p in paths:
        p = Path(p)
        if p.is_dir():
            if (p / SWEEP_CSV).exists():
                p = p / SWEEP_CSV
            else:
                found = sorted(p.rglob("*.jsonl"))
                if not found:
                    raise FileNotFoundError(f"{p}: no {SWEEP_CSV} and no *.jsonl run file in it")
                runs.extend(RunSource(f) for f in found)
                continue
        if p.suffix.lower() in (".csv", ".md"):
            sweep = read_sweep_summary(p)
            for row in sweep["rows"]:
                out = Path(row["out"])
                if not out.is_absolute():
                    out = p.parent / out
                runs.append(RunSource(out, name=row.get("label") or row.get("overrides") or out.parent.name,
                                      meta={"sweep_row": row}))
            continue
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such run file")
        runs.append(RunSource(p))
    if not runs:
        raise ValueError("no run to show")
    _name_runs(runs, labels)
    for r in runs:
        r.refresh()
    return Inputs(runs, sweep, load_task_items(tasks) if tasks else {})


def _name_runs(runs: list[RunSource], labels: list[str] | None) -> None:
    for r, label in zip(runs, labels or []):
        r.name = label
    names = Counter(r.name for r in runs)
    for r in runs:  # e.g. every sweep job writes episodes.jsonl: name them by their folder instead
        if names[r.name] > 1 and not r.meta.get("sweep_row"):
            r.name = f"{r.path.parent.name}/{r.path.stem}"
    seen: Counter = Counter()
    for r in runs:
        seen[r.name] += 1
        if seen[r.name] > 1:
            r.name = f"{r.name} ({seen[r.name]})"


def read_sweep_summary(path: str | os.PathLike) -> dict[str, Any]:
    """The rows of a sweep summary: the CSV, or the Markdown table (the CSV beside it is preferred)."""
    p = Path(path)
    if p.suffix.lower() == ".md" and p.with_suffix(".csv").exists():
        p = p.with_suffix(".csv")
    if p.suffix.lower() == ".csv":
        with p.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = list(reader.fieldnames or [])
    else:
        columns, rows = _markdown_table(p.read_text(encoding="utf-8"))
    if "out" not in columns:
        raise ValueError(f"{p}: not a sweep summary (no 'out' column)")
    return {"path": str(p), "columns": columns, "rows": rows}


def _markdown_table(text: str) -> tuple[list[str], list[dict[str, str]]]:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("|")]
    if len(lines) < 2:
        return [], []

    def cells(ln: str) -> list[str]:
        return [c.strip().replace("\\|", "|").strip("`") for c in ln.strip("|").split(" | ")]

    columns = cells(lines[0])
    return columns, [dict(zip(columns, cells(ln))) for ln in lines[2:]]


def load_task_items(spec: str) -> dict[str, Any]:
    """``--tasks SUITE|FILE`` → task id → per turn ``[{id, question, weight, dependence, required}]``."""
    from ..tasks import resolve_tasks

    out: dict[str, Any] = {}
    for t in resolve_tasks(spec):
        out[t.id] = [[{"id": it.id, "question": it.question, "weight": it.weight,
                       "dependence": list(it.dependence or []), "required": bool(it.required_for_next_turn)}
                      for it in turn.checklist] for turn in t.turns]
    return out


# ------------------------------------------------------------------------------------------- statistics


_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045,
         2.042]


def t975(df: int) -> float:
    """Two-sided 95% Student-t quantile (exact table to 30 degrees of freedom, then a close approximation)."""
    if df <= 0:
        return math.nan
    if df <= len(_T975):
        return _T975[df - 1]
    return 1.959964 + 2.4 / df  # within 0.002 of the exact value for df > 30


def mean_ci(xs: list[float]) -> dict[str, Any]:
    """Mean, sample standard deviation and the 95% t-interval of the mean (clipped to [0, 1])."""
    n = len(xs)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci95": None}
    m = sum(xs) / n
    if n == 1:
        return {"n": 1, "mean": m, "std": None, "ci95": None}
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    h = t975(n - 1) * sd / math.sqrt(n)
    return {"n": n, "mean": m, "std": sd, "ci95": [max(0.0, m - h), min(1.0, m + h)]}


def histogram(xs: list[float], bins: int = HIST_BINS) -> dict[str, Any]:
    """Counts over ``bins`` equal bins of [0, 1] (1.0 falls in the last one)."""
    counts = [0] * bins
    for x in xs:
        counts[min(bins - 1, max(0, int(x * bins)))] += 1
    return {"edges": [i / bins for i in range(bins + 1)], "counts": counts}


def _usage_add(acc: dict[str, dict[str, float]], usage: dict[str, Any]) -> None:
    for role, ru in (usage or {}).items():
        if role == "total" or not isinstance(ru, dict):
            continue
        a = acc.setdefault(role, defaultdict(float))
        for k, v in ru.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                a[k] += v


def _effective(v: dict[str, Any]) -> bool:
    return v.get("status") == "passed" and v.get("counted", True) is not False


def run_summary(records: list[EpisodeRecord]) -> dict[str, Any]:
    """Everything the summary page shows about one run."""
    scores = [r.score for r in records if r.score is not None]
    by_domain: dict[str, list[EpisodeRecord]] = defaultdict(list)
    for r in records:
        by_domain[r.domain or "?"].append(r)
    verdicts: Counter = Counter({s: 0 for s in VERDICT_STATUSES})
    gated = 0
    by_source: Counter = Counter()
    usage: dict[str, dict[str, float]] = {}
    tool_sources: Counter = Counter()
    tool_errors: Counter = Counter()
    errors: Counter = Counter()
    required_failed = 0
    for r in records:
        for t in r.verdicts:
            required_failed += len(t.get("required_failed") or [])
            for v in t.get("verdicts") or []:
                verdicts[v.get("status", "?")] += 1
                by_source[v.get("source", "?")] += 1
                if v.get("status") == "passed" and v.get("counted") is False:
                    gated += 1
        _usage_add(usage, r.usage)
        for c in r.tool_calls:
            tool_sources[c.get("source", "?")] += 1
            if c.get("error"):
                tool_errors[c["error"]] += 1
        for e in r.errors:
            errors[e.get("type", "?")] += 1
    total_usage: dict[str, float] = defaultdict(float)
    for ru in usage.values():
        for k, v in ru.items():
            total_usage[k] += v
    if usage:
        usage["total"] = total_usage

    def dom(name: str, rs: list[EpisodeRecord]) -> dict[str, Any]:
        ss = [r.score for r in rs if r.score is not None]
        c: Counter = Counter()
        for r in rs:
            c.update(r.counts or {})
        ev = {}
        for ename, s in summarise_evaluations(rs).items():
            if s["metric"]:
                ev[ename] = s["summary"].get(s["metric"])
        return {"domain": name, "episodes": len(rs), **mean_ci(ss), "perfect": _share(ss),
                "counts": {s: c.get(s, 0) for s in VERDICT_STATUSES}, "official": ev}

    return {
        "episodes": len(records),
        "scored": len(scores),
        "unscored": len(records) - len(scores),
        "score": mean_ci(scores),
        "perfect": _share(scores),
        "histogram": histogram(scores),
        "domains": [dom(d, by_domain[d]) for d in sorted(by_domain)],
        "end_reasons": dict(Counter(r.end_reason or "?" for r in records).most_common()),
        "verdicts": {**{s: verdicts.get(s, 0) for s in VERDICT_STATUSES}, "gated": gated,
                     "required_failed": required_failed, "by_source": dict(by_source.most_common())},
        "usage": {role: {k: (round(v, 6) if k == "cost" else int(v)) for k, v in sorted(ru.items())}
                  for role, ru in usage.items()},
        "tool_calls": {"total": sum(tool_sources.values()), "by_source": dict(tool_sources.most_common()),
                       "errors": dict(tool_errors.most_common())},
        "errors": dict(errors.most_common()),
        "agent_errors": sum(1 for r in records if r.agent_error),
        "steps_mean": (sum(r.steps for r in records) / len(records)) if records else None,
        "elapsed_s": round(sum(r.elapsed_s for r in records), 3),
        "evaluations": summarise_evaluations(records),
    }


def _share(scores: list[float]) -> float | None:
    return sum(checklist_perfect(s) for s in scores) / len(scores) if scores else None


# -------------------------------------------------------------------------------------------- episodes


def _tokens(usage: dict[str, Any]) -> int:
    tot = (usage or {}).get("total") or {}
    return int(tot.get("prompt_tokens", 0) or 0) + int(tot.get("completion_tokens", 0) or 0)


def episode_row(i: int, r: EpisodeRecord) -> dict[str, Any]:
    """One line of the episode list (short keys: a 10k-episode index stays small)."""
    c = r.counts or {}
    gated = sum(1 for t in r.verdicts for v in t.get("verdicts") or []
                if v.get("status") == "passed" and v.get("counted") is False)
    evs = episode_evaluations(r)
    official = {k: v.get("passed") for k, v in evs.items()}
    agree = [v.get("agree") for v in evs.values() if v.get("agree") is not None]
    return {"i": i, "key": r.episode_key, "task": r.task_id, "domain": r.domain or "?", "score": r.score,
            "end": r.end_reason or "?", "steps": r.steps, "turns": len(r.turn_scores),
            "p": c.get("passed", 0), "f": c.get("failed", 0), "u": c.get("unjudged", 0), "e": c.get("error", 0),
            "g": gated, "errs": len(r.errors), "tok": _tokens(r.usage),
            "off": official or None, "agree": (all(agree) if agree else None),
            "aerr": bool(r.agent_error)}


def turn_starts(messages: list[dict[str, Any]]) -> list[int]:
    """Index of each turn's first message (its user message) in the transcript."""
    return [i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "user"]


def episode_detail(r: EpisodeRecord) -> dict[str, Any]:
    """Everything the episode page draws: the transcript, the judged turns with each verdict's message index
    (``msg``: where the item was satisfied), tool-call records by id, errors, official verdicts, usage."""
    starts = turn_starts(r.messages)
    turns = []
    for t in r.verdicts:
        k = t.get("turn", 0)
        vs = []
        for v in t.get("verdicts") or []:
            step = v.get("step")
            msg = starts[k] + step if isinstance(step, int) and k < len(starts) else None
            if msg is not None and not 0 <= msg < len(r.messages):
                msg = None
            vs.append({**v, "msg": msg, "gated": v.get("status") == "passed" and v.get("counted") is False})
        turns.append({"turn": k, "score": t.get("score"), "required_failed": t.get("required_failed") or [],
                      "verdicts": vs})
    return {
        "key": r.episode_key, "task": r.task_id, "domain": r.domain, "group": r.group_key, "rollout": r.rollout,
        "seed": r.seed, "score": r.score, "return": r.return_, "turn_scores": r.turn_scores, "counts": r.counts,
        "end": r.end_reason, "terminated": r.terminated, "truncated": r.truncated, "steps": r.steps,
        "messages": r.messages, "turn_starts": starts, "turns": turns,
        "tool_calls": {c.get("id"): c for c in r.tool_calls if isinstance(c, dict)},
        "errors": r.errors, "warnings": r.warnings, "agent_error": r.agent_error, "agent_info": r.agent_info,
        "evaluations": episode_evaluations(r), "usage": r.usage, "elapsed_s": r.elapsed_s,
    }


# ------------------------------------------------------------------------------------------ comparison


def _match_episodes(a: list[EpisodeRecord], b: list[EpisodeRecord]) -> list[tuple[int, int]]:
    """Index pairs of the same episode in two runs: the same episode key, else the n-th episode of a task."""
    kb = {r.episode_key: j for j, r in enumerate(b)}
    pairs = [(i, kb[r.episode_key]) for i, r in enumerate(a) if r.episode_key in kb]
    if pairs:
        return pairs
    by_task_b: dict[str, list[int]] = defaultdict(list)
    for j, r in enumerate(b):
        by_task_b[r.task_id].append(j)
    seen: Counter = Counter()
    for i, r in enumerate(a):
        n = seen[r.task_id]
        seen[r.task_id] += 1
        if n < len(by_task_b.get(r.task_id, ())):
            pairs.append((i, by_task_b[r.task_id][n]))
    return pairs


def _item_statuses(r: EpisodeRecord) -> dict[tuple[int, str], dict[str, Any]]:
    return {(t.get("turn", 0), v.get("id")): v for t in r.verdicts for v in t.get("verdicts") or []}


def _label(v: dict[str, Any] | None) -> str:
    if v is None:
        return "not reached"
    return "passed (not counted)" if v.get("status") == "passed" and v.get("counted") is False else v.get("status", "?")


def compare_runs(a: list[EpisodeRecord], b: list[EpisodeRecord], ia: int = 0, ib: int = 1) -> dict[str, Any]:
    """Run ``b`` against run ``a`` over the same tasks: per-task mean score deltas (largest first), the
    checklist items that flipped between matched episodes, and the matched episode pairs."""
    sa: dict[str, list[float]] = defaultdict(list)
    sb: dict[str, list[float]] = defaultdict(list)
    for r in a:
        sa[r.task_id].append(r.score or 0.0)
    for r in b:
        sb[r.task_id].append(r.score or 0.0)
    pairs = _match_episodes(a, b)
    first_pair: dict[str, tuple[int, int]] = {}
    for i, j in pairs:
        first_pair.setdefault(a[i].task_id, (i, j))
    tasks = []
    for task in sorted(set(sa) | set(sb)):
        ma = sum(sa[task]) / len(sa[task]) if sa.get(task) else None
        mb = sum(sb[task]) / len(sb[task]) if sb.get(task) else None
        delta = mb - ma if ma is not None and mb is not None else None
        p = first_pair.get(task)
        tasks.append({"task": task, "a": ma, "b": mb, "delta": delta, "na": len(sa.get(task, ())),
                      "nb": len(sb.get(task, ())), "ea": p[0] if p else None, "eb": p[1] if p else None})
    tasks.sort(key=lambda t: (t["delta"] is None, -abs(t["delta"] or 0.0), t["task"]))
    flips = []
    n_flips = gained = lost = 0
    for i, j in pairs:
        va, vb = _item_statuses(a[i]), _item_statuses(b[j])
        for key in sorted(set(va) | set(vb), key=lambda k: (k[0], str(k[1]))):
            x, y = va.get(key), vb.get(key)
            ex, ey = bool(x and _effective(x)), bool(y and _effective(y))
            if ex == ey:
                continue
            n_flips += 1
            gained += ey
            lost += ex
            if len(flips) < MAX_FLIPS:
                flips.append({"task": a[i].task_id, "key": a[i].episode_key, "ea": i, "eb": j, "turn": key[0],
                              "item": key[1], "from": _label(x), "to": _label(y),
                              "dir": "gained" if ey else "lost",
                              "ra": (x or {}).get("rationale", ""), "rb": (y or {}).get("rationale", "")})
    shared = [t for t in tasks if t["delta"] is not None]
    return {
        "a": ia, "b": ib,
        "summary": {"tasks": len(tasks), "shared_tasks": len(shared), "matched_episodes": len(pairs),
                    "mean_a": _mean([t["a"] for t in shared]), "mean_b": _mean([t["b"] for t in shared]),
                    "mean_delta": _mean([t["delta"] for t in shared]),
                    "improved": sum(1 for t in shared if t["delta"] > 1e-9),
                    "worsened": sum(1 for t in shared if t["delta"] < -1e-9),
                    "unchanged": sum(1 for t in shared if abs(t["delta"]) <= 1e-9),
                    "flips": n_flips, "gained": gained, "lost": lost,
                    "official": _official_pair(a, b)},
        "tasks": tasks,
        "flips": flips,
    }


def _official_pair(a: list[EpisodeRecord], b: list[EpisodeRecord]) -> dict[str, Any]:
    ea, eb = summarise_evaluations(a), summarise_evaluations(b)
    out = {}
    for name in sorted(set(ea) & set(eb)):
        s = evaluation_summariser(name)
        if s is not None and s.metric:
            out[name] = {"label": s.label or s.metric, "a": ea[name]["summary"].get(s.metric),
                         "b": eb[name]["summary"].get(s.metric)}
    return out


def _mean(xs: list[float | None]) -> float | None:
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


# --------------------------------------------------------------------------------------------- the page


def comparisons_of(runs: list[list[EpisodeRecord]]) -> list[dict[str, Any]]:
    n = len(runs)
    if n < 2:
        return []
    if n <= MAX_PAIRWISE_RUNS:
        idx = [(i, j) for i in range(n) for j in range(i + 1, n)]
    else:
        idx = [(0, j) for j in range(1, n)]
    return [compare_runs(runs[i], runs[j], i, j) for i, j in idx]


def build_index(inputs: Inputs, title: str | None = None) -> dict[str, Any]:
    """The page's index blob: run summaries, episode rows, comparisons, sweep table, task items."""
    recs = [r.records for r in inputs.runs]
    return {
        "schema": SCHEMA_VERSION,
        "title": title or (f"sweep {Path(inputs.sweep['path']).parent.name}" if inputs.sweep else
                           " vs ".join(r.name for r in inputs.runs)),
        "runs": [{"name": r.name, "path": str(r.path), "meta": r.meta, "bad_lines": r.bad_lines,
                  "summary": run_summary(rs), "episodes": [episode_row(i, e) for i, e in enumerate(rs)]}
                 for r, rs in zip(inputs.runs, recs)],
        "comparisons": comparisons_of(recs),
        "sweep": inputs.sweep,
        "tasks": inputs.tasks,
    }


def build_details(inputs: Inputs) -> dict[str, Any]:
    """The page's details blob: per run, per episode (in the index's order), :func:`episode_detail`."""
    return {"runs": [[episode_detail(e) for e in r.records] for r in inputs.runs]}
