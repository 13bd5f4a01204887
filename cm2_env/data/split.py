"""Seeded split of the filtered records into a cold-start SFT set of N records and the RL pool.

    cm2 data split filtered.jsonl --out rl_pool.jsonl --sft-size 8000 --seed 42 [--sft-out sft.jsonl]

OUT is the RL pool (the records the chain goes on with: ``select``, ``label``...); the SFT set goes to
``--sft-out`` (default: OUT's name with ``.sft.jsonl``, beside it), listed in the report's ``outputs.sft``.
The SFT records are the N whose hash of ``seed`` and id is smallest: the choice depends on neither the order
of the input nor its size beyond N, takes two streaming passes and memory for N ids, and a resumed run makes
the same choice. With fewer than N records all go to the SFT set (the report says so).
"""

from __future__ import annotations

import heapq
from pathlib import Path
from typing import Any

from .io import StageOutput, iter_jsonl, iter_records
from .select import uniform
from .stage import StageOptions, StageSpec


class Options(StageOptions):
    sft_size: int = 8000
    """Records in the cold-start SFT set (N); the rest is the RL pool."""
    seed: int = 42
    """Seed of the split."""
    sft_out: str | None = None
    """The SFT set's file (default: OUT's name with .sft.jsonl)."""


def sft_path_of(out: Path, options: Options) -> Path:
    if options.sft_out:
        return Path(options.sft_out)
    stem = out.name[:-6] if out.name.endswith(".jsonl") else out.name
    return out.with_name(stem + ".sft.jsonl")


def choose_sft(inp: Path, n: int, seed: int) -> tuple[set[str], int]:
    """(ids of the N records with the smallest seeded hash, records with an id seen)."""
    heap: list[tuple[float, str]] = []  # max-heap via negated keys, at most n entries
    total = 0
    for row in iter_jsonl(inp):
        rid = row.value.get("id") if row.value is not None else None
        if not isinstance(rid, str) or not rid:
            continue
        total += 1
        if n <= 0:
            continue
        key = uniform(seed, rid)
        if len(heap) < n:
            heapq.heappush(heap, (-key, rid))
        elif -heap[0][0] > key:
            heapq.heapreplace(heap, (-key, rid))
    return {rid for _, rid in heap}, total


def run_split(inp: Path, out: Path, options: Options, *, resume: bool = True) -> dict[str, Any]:
    if options.sft_size < 0:
        from .io import DataError

        raise DataError(f"split: sft_size must be >= 0, got {options.sft_size}")
    sft_ids, total = choose_sft(inp, options.sft_size, options.seed)
    with StageOutput(out, "split", resume=resume, options=options.model_dump(mode="json"), input=str(inp),
                     options_changed="fresh") as so:
        sft = so.extra_output("sft", sft_path_of(out, options))
        for row, record in iter_records(inp, so):
            if record["id"] in sft_ids:
                sft.write(raw=row.raw)
            else:
                so.keep(raw=row.raw)
        extra: dict[str, Any] = {"sft": sft.count, "rl": so.kept, "sft_file": str(sft.path)}
        if total < options.sft_size:
            extra["warning"] = (f"only {total} record(s), fewer than sft_size={options.sft_size}: all went to the "
                                f"SFT set, the RL pool is empty")
        return so.finish(**extra)


STAGE = StageSpec("split", Options, run_split, "seeded split into a cold-start SFT set (N records) and the RL pool")
add_parser, run = STAGE.cli()
