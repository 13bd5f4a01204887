"""The shared runner of the LLM data stages (``llm-filter``, ``compress-cot``, ``label``): concurrent, streaming,
resumable, metered.

A stage supplies ``process(record, ctx) -> Outcome`` (an ``async`` function making its LLM calls through
``ctx.client()``); the runner does the rest:

- **streaming, bounded**: the input is read one line at a time and at most ``concurrency`` records are in flight
  (memory is bounded by the concurrency, not the dataset); each finished record is written at once (completion
  order) to ``OUT`` or ``OUT.rejected.jsonl`` through :class:`~cm2_env.data.io.StageOutput`;
- **resume** (the default): the ids already in the outputs are skipped, so a rerun after ``kill -9`` pays for no
  finished record again and writes no duplicate; and every LLM reply is kept in a response cache beside the
  output (``OUT.llmcache.sqlite``, on by default), so the calls a killed record had already got back (e.g. the
  first passes of a cascade, or a labelling attempt before its re-ask) are replayed, not paid again. Only a call
  whose reply had not arrived when the process died is sent again. A second process writing the same output is
  refused (a lock beside it);
- **role config** per stage (``llm``: ``cm2_env.llm.LLMConfig`` fields, a preset name of ``conf/llm`` or
  ``{"preset": NAME, ...overrides}``), with retries, endpoint balancing, structured output and usage from
  :mod:`cm2_env.llm`;
- **cost**: each record's calls, tokens and USD (the role's configured ``price``) go into its
  ``meta.usage.<stage>``; the report sums them over the whole output (an earlier run's records included) and
  for this run alone;
- **faults are data**: a request that fails for good (server errors after retries, timeouts, refused requests,
  output that never validates) rejects its record with the reason (``llm_<kind>: ...``); nothing escapes;
- a tqdm progress bar on stderr with records/s and the cost so far (``--no-progress`` turns it off).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import yaml
from pydantic import Field

from ..llm import LLMClient, LLMConfig, LLMError, UsageMeter, track_usage
from ..llm.config import LLMConfigError
from ..llm.client import send_bodies_eagerly
from ..llm.presets import PRESET_DIR
from .io import DataError, StageOutput, iter_jsonl, iter_records
from .record import meta
from .stage import StageOptions

GPT5_PRICE = {"input_per_mtok": 1.25, "cached_input_per_mtok": 0.125, "output_per_mtok": 10.0}
"""OpenAI's list price of gpt-5 (USD per million tokens) — the model the CM2 authors used; check current prices."""

DEFAULT_LLM: dict[str, Any] = {
    "preset": "openai", "model": "gpt-5", "temperature": None, "price": GPT5_PRICE, "timeout": 600, "retries": 6,
}
"""The role config a data stage uses when none is given: gpt-5 on the OpenAI API (key in OPENAI_API_KEY)."""


class LLMStageOptions(StageOptions):
    """Options every LLM stage has."""

    llm: dict[str, Any] | str | None = None
    """The stage's LLM role: LLMConfig fields ({"base_url": ..., "model": ...}), a preset name of conf/llm (vllm,
    sglang, openai, local) or {"preset": NAME, ...overrides}; None: gpt-5 on the OpenAI API (OPENAI_API_KEY).
    The stage's defaults go under the preset: max_tokens None (no cut-off), max_concurrency = concurrency
    (unless the preset sets one), the response cache beside the output."""
    concurrency: int = Field(64, ge=1)
    """Records in flight at once (memory is bounded by it)."""
    cache: bool = True
    """Keep every LLM reply in a sqlite cache beside the output (OUT.llmcache.sqlite), so a rerun after a kill
    replays the calls it already paid for; the role's own cache_path, when set, is used instead. A --fresh run
    replays them too (delete the file or pass --no-cache to ask the model again)."""
    reasoning_effort: str | None = None
    """Reasoning effort sent with each request (e.g. low/medium/high) in the `effort_param` field; None: none."""
    effort_param: str | None = "reasoning_effort"
    """The request field that carries the reasoning effort (OpenAI and vLLM: reasoning_effort); None: never send
    one (use a model per level instead, where the stage has levels)."""
    progress: bool = True
    """Show a progress bar (records/s, cost so far) on stderr."""


@dataclass
class Outcome:
    """What a stage's ``process`` returns for one record."""

    record: dict[str, Any] | None = None
    """The record to keep (the input, changed or not); None with ``reasons`` rejects it."""
    reasons: list[str] = field(default_factory=list)
    """Why the record is rejected (each ``key: detail``); non-empty means rejected."""
    rejected_record: dict[str, Any] | None = None
    """What to write in the rejected file (default: the input record)."""


def reason_of(exc: LLMError) -> str:
    """A rejection reason for a request that failed for good (``llm_<kind>: message``)."""
    return f"llm_{exc.kind}: {exc.message[:500]}"


@dataclass
class StageContext:
    """What ``process`` gets besides the record: the stage's clients and options."""

    options: LLMStageOptions
    config: LLMConfig
    _clients: dict[str, LLMClient] = field(default_factory=dict)

    def client(self, model: str | None = None) -> LLMClient:
        """The stage's client (for ``model``, when a stage maps levels to models: one client per model)."""
        key = model or self.config.model
        if key not in self._clients:
            cfg = self.config if model is None or model == self.config.model else self.config.model_copy(
                update={"model": model, "endpoints": [e.model_copy(update={"model": model})
                                                      for e in self.config.endpoints]})
            self._clients[key] = LLMClient(cfg)
        return self._clients[key]

    def effort(self, level: str | None = None) -> dict[str, Any]:
        """Request overrides carrying a reasoning effort (``level``, else the stage's ``reasoning_effort``)."""
        level = level if level is not None else self.options.reasoning_effort
        if level is None or not self.options.effort_param:
            return {}
        return {self.options.effort_param: level}

    async def aclose(self) -> None:
        for c in self._clients.values():
            await c.aclose()


ProcessFn = Callable[[dict[str, Any], StageContext], Awaitable[Outcome]]
CountFn = Callable[[dict[str, Any], bool], dict[str, float]]


# --------------------------------------------------------------------------------------------- role config


def _preset_fields(name: str) -> dict[str, Any]:
    path = Path(name) if name.endswith((".yaml", ".yml")) else PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.yaml")))
        raise DataError(f"no LLM preset {name!r} (known: {known})")
    return dict(yaml.safe_load(path.read_text()) or {})


def role_config(llm: dict[str, Any] | str | None, role: str, *, concurrency: int, cache_path: Path | None,
                stage_defaults: dict[str, Any] | None = None) -> LLMConfig:
    """The stage's LLMConfig: preset fields, then the stage's defaults, then the user's fields."""
    spec: dict[str, Any] = {"preset": llm} if isinstance(llm, str) else dict(DEFAULT_LLM if llm is None else llm)
    preset = spec.pop("preset", None)
    base = _preset_fields(str(preset)) if preset else {}
    data: dict[str, Any] = dict(base)
    data["role"] = role
    data["max_tokens"] = None
    if "max_concurrency" not in base:
        data["max_concurrency"] = concurrency
    data.update(stage_defaults or {})
    if cache_path is not None:
        data["cache_path"] = str(cache_path)
    data.update(spec)
    try:
        return LLMConfig.coerce(data, role=role)
    except (LLMConfigError, ValueError) as exc:
        raise DataError(f"{role}: bad llm config: {exc}") from None


def describe(cfg: LLMConfig) -> dict[str, Any]:
    """The role config for the report (no keys: only the names of the variables holding them)."""
    return {"role": cfg.role, "model": cfg.model, "endpoints": [e.base_url for e in cfg.resolved_endpoints()],
            "api_key_env": cfg.api_key_env, "price": cfg.price.model_dump(), "cache_path": cfg.cache_path}


# --------------------------------------------------------------------------------------------- usage


USAGE_KEYS = ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "cached_prompt_tokens", "reasks",
              "retries", "failures")


def usage_dict(meter: UsageMeter) -> dict[str, Any]:
    # the sums of meter.total(), without building a RoleUsage through dataclasses.asdict per role
    roles = list(meter.roles.values())
    out: dict[str, Any] = {k: sum(getattr(ru, k) for ru in roles) for k in USAGE_KEYS}
    cost = 0.0
    for ru in roles:
        cost += ru.cost
    out["cost_usd"] = round(cost, 8)
    return out


def _add_usage(total: dict[str, float], u: dict[str, Any] | None) -> None:
    if not isinstance(u, dict):
        return
    for k in (*USAGE_KEYS, "cost_usd"):
        v = u.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            total[k] = total.get(k, 0) + v


def _zero_usage() -> dict[str, float]:
    return {**{k: 0 for k in USAGE_KEYS}, "cost_usd": 0.0}


def _record_usage(record: Any, stage: str) -> dict[str, Any] | None:
    if isinstance(record, dict) and isinstance(record.get("meta"), dict):
        u = record["meta"].get("usage")
        if isinstance(u, dict):
            return u.get(stage)
    return None


# --------------------------------------------------------------------------------------------- progress


class _Progress:
    def __init__(self, total: int | None, label: str, enabled: bool):
        self.bar = None
        self.t0 = time.perf_counter()
        self.n = 0
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit="rec", file=sys.stderr, dynamic_ncols=True)

    def update(self, cost: float, kept: int, rejected: int) -> None:
        self.n += 1
        if self.bar is None:
            return
        dt = max(time.perf_counter() - self.t0, 1e-9)
        self.bar.update(1)
        self.bar.set_postfix_str(f"{self.n / dt:.1f} rec/s, ${cost:.4f}, kept {kept}, rejected {rejected}",
                                 refresh=False)

    def skip(self, n: int) -> None:
        if self.bar is not None and n:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def count_lines(path: Path) -> int | None:
    """Non-blank lines of ``path`` (for the progress bar's total), read in blocks; None if unreadable."""
    try:
        n = 0
        last = b"\n"
        with path.open("rb") as fh:
            while True:
                block = fh.read(1 << 20)
                if not block:
                    break
                n += block.count(b"\n")
                last = block[-1:]
        return n + (last != b"\n")
    except OSError:
        return None


# --------------------------------------------------------------------------------------------- runner


def run_llm_stage(name: str, inp: Path, out: Path, options: LLMStageOptions, process: ProcessFn, *, resume: bool,
                  role: str, counters: CountFn | None = None, stage_defaults: dict[str, Any] | None = None,
                  report_extra: Callable[[dict[str, float]], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run one LLM stage over ``inp`` into ``out``; returns the report (also written beside ``out``).

    ``counters(record, kept)`` gives a record's stage-specific figures (summed into ``report["counters"]``,
    over the whole output, an earlier run's records included); ``report_extra(counters)`` adds derived
    fields to the report.
    """
    from ..rollout import OutputLockedError, lock_output

    inp, out = Path(inp), Path(out)
    for name_ in ("httpx", "httpx2"):  # one INFO line per request (Hydra logs at INFO) would drown the progress bar
        lg = logging.getLogger(name_)
        if lg.level == logging.NOTSET:
            lg.setLevel(logging.WARNING)
    if not inp.is_file():
        raise DataError(f"{inp}: no such file")
    cache_path = out.with_name(out.name + ".llmcache.sqlite") if options.cache else None
    cfg = role_config(options.llm, role, concurrency=options.concurrency, cache_path=cache_path,
                      stage_defaults=stage_defaults)
    try:
        ctx = StageContext(options, cfg)
        ctx.client()  # fail early on a missing key variable, before any output is touched
    except LLMConfigError as exc:
        raise DataError(str(exc)) from None
    try:
        lock = lock_output(out)
        lock.__enter__()
    except OutputLockedError as exc:
        raise DataError(str(exc)) from None
    try:
        with StageOutput(out, name, resume=resume, options=options.model_dump(mode="json"), input=str(inp)) as so:
            totals = _zero_usage()
            counts: Counter = Counter()
            if so.done:
                _rescan(so, name, totals, counts, counters)
            this_run = _zero_usage()
            t0 = time.perf_counter()
            # garbage collection while hundreds of requests wait on the loop: the objects alive before the run
            # (modules, the SDK, config) stay out of the full collections (each one otherwise walks them all,
            # ~0.1 s; unless someone froze objects already: theirs to unfreeze), and the young generation is
            # collected less often (each collection walks the in-flight records' state, ~15 ms)
            freeze = gc.get_freeze_count() == 0
            thresholds = gc.get_threshold()
            if freeze:
                gc.freeze()
            if 0 < thresholds[0] < _GC_YOUNG:
                gc.set_threshold(_GC_YOUNG, *thresholds[1:])
            try:
                asyncio.run(_drive(name, inp, so, ctx, process, totals, this_run, counts, counters))
            finally:
                gc.set_threshold(*thresholds)
                if freeze:
                    gc.unfreeze()
            seconds = time.perf_counter() - t0
            new = so.kept + so.rejected - len(so.done)
            extra = {
                "cost_usd": round(totals["cost_usd"], 8),
                "usage": _round(totals),
                "usage_this_run": _round(this_run),
                "records_this_run": new,
                "records_per_second": round(new / seconds, 3) if seconds > 0 else None,
                "cost_usd_per_record": round(totals["cost_usd"] / max(so.kept + so.rejected, 1), 8),
                "llm": describe(cfg),
                "counters": dict(sorted(counts.items())),
            }
            if report_extra is not None:
                extra.update(report_extra(dict(counts)))
            return so.finish(**extra)
    finally:
        lock.__exit__(None, None, None)


_GC_YOUNG = 10_000
"""Allocations between young-generation collections during a stage run (Python's default: 700)."""


def _round(u: dict[str, float]) -> dict[str, Any]:
    return {k: (round(v, 8) if k == "cost_usd" else int(v)) for k, v in u.items()}


def _rescan(so: StageOutput, stage: str, totals: dict[str, float], counts: Counter,
            counters: CountFn | None) -> None:
    """Sum the usage and counters of the records an earlier run wrote (so the report covers the whole output)."""
    for path, kept in ((so.out, True), (so.rejected_path, False)):
        if not path.exists():
            continue
        for row in iter_jsonl(path):
            v = row.value
            if v is None:
                continue
            rec = v if kept else v.get("record")
            _add_usage(totals, _record_usage(rec, stage))
            if counters is not None and isinstance(rec, dict):
                counts.update(counters(rec, kept))


async def _drive(stage: str, inp: Path, so: StageOutput, ctx: StageContext, process: ProcessFn,
                 totals: dict[str, float], this_run: dict[str, float], counts: Counter,
                 counters: CountFn | None) -> None:
    send_bodies_eagerly(asyncio.get_running_loop())  # this loop is the stage's own (asyncio.run above)
    total = count_lines(inp)
    progress = _Progress(total, stage, ctx.options.progress)
    progress.skip(len(so.done))
    records = iter_records(inp, so)
    seen: set[str] = set()
    exhausted = False

    def next_record() -> dict[str, Any] | None:
        """The next record to process (duplicate ids rejected on the way); None at the end of the input."""
        nonlocal exhausted
        for row, rec in records:
            rid = rec["id"]
            if rid in seen:
                so.reject(rec, [f"duplicate_id: line {row.line}: id {rid!r} occurs earlier in the input"],
                          id=rid)
                continue
            seen.add(rid)
            return rec
        exhausted = True
        return None

    async def one(rec: dict[str, Any]) -> None:
        meter = UsageMeter()
        try:
            with track_usage(meter):
                outcome = await process(rec, ctx)
        except LLMError as exc:
            outcome = Outcome(None, [reason_of(exc)])
        except Exception as exc:  # noqa: BLE001 - a bad record must not stop the stage
            outcome = Outcome(None, [f"internal_error: {type(exc).__name__}: {str(exc)[:500]}"])
        usage = usage_dict(meter)
        _add_usage(totals, usage)
        _add_usage(this_run, usage)
        if outcome.reasons:
            target = outcome.rejected_record if outcome.rejected_record is not None else rec
            meta(target).setdefault("usage", {})[stage] = usage
            so.reject(target, outcome.reasons, id=rec["id"])
            kept, written = False, target
        else:
            written = outcome.record if outcome.record is not None else rec
            meta(written).setdefault("usage", {})[stage] = usage
            so.keep(written)
            kept = True
        if counters is not None:
            counts.update(counters(written, kept))
        progress.update(totals["cost_usd"], so.kept, so.rejected)

    async def worker() -> None:
        # each of the `concurrency` workers takes the next record as soon as its own is written, in the same
        # task step: the next request goes out at once instead of queueing behind every other reply that
        # arrived meanwhile (a reader task woken by a semaphore would run only after all of them)
        while True:
            rec = next_record()
            if rec is None:
                return
            await one(rec)

    workers: list[asyncio.Task] = []
    try:
        for _ in range(ctx.options.concurrency):
            if exhausted:
                break
            workers.append(asyncio.create_task(worker()))
            # one worker per loop pass: its request goes out (its connection made) before the next one's is
            # built, instead of all of them waiting for the whole first batch to be built
            await asyncio.sleep(0)
        await asyncio.gather(*workers)
    except BaseException:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    finally:
        progress.close()
        await ctx.aclose()


def conversation_json(value: Any) -> str:
    """JSON for a prompt (readable, non-ASCII kept)."""
    return json.dumps(value, ensure_ascii=False, indent=1, default=str)


__all__ = ["LLMStageOptions", "Outcome", "StageContext", "run_llm_stage", "role_config", "reason_of",
           "DEFAULT_LLM", "GPT5_PRICE", "conversation_json"]
