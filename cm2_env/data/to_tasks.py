"""Labelled records → a cm2 task file (JSONL, one task per line).

    cm2 data to-tasks labelled.jsonl --out tasks.jsonl [--domain cm2] [--variant 0]
    cm2 validate tasks.jsonl
    cm2 run --tasks-file tasks.jsonl --agent reference --out episodes.jsonl
    cm2 data to-verl --tasks tasks.jsonl --out data/verl

Each record becomes the task :func:`cm2_env.tasks.cm2_format.from_cm2` makes of it: the first system message
is the system prompt, the user messages are the scripted turns, the messages are the reference (so the offline
tool backend replays each recorded tool result for the same call, and the reference agent re-enacts the
trajectory), ``checklists[variant]`` is the active checklist and every variant is kept. ``metadata`` keeps
the record's provenance (``source``) and what the stages added (``meta``). Every task is validated as
``cm2 validate`` would; a record that does not make a valid task — or has no checklist, unless
``require_checklists`` is off — is rejected with the errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .io import DataError, StageOutput, iter_records
from .stage import StageOptions, StageSpec


class Options(StageOptions):
    domain: str = "cm2"
    """The tasks' domain label."""
    variant: int = 0
    """The checklist variant made active (all variants are kept)."""
    require_checklists: bool = True
    """Reject a record without checklists; off: such records become tasks with empty checklists."""
    keep_meta: bool = True
    """Copy the record's meta (stats, flags, cost) into the task's metadata."""


def task_of(record: dict[str, Any], options: Options) -> dict[str, Any]:
    """The task document of one record (unvalidated); raises ValueError when it cannot be built."""
    from cm2_env.tasks.cm2_format import cm2_task_dict

    cm2 = {"uuid": record["id"], "messages": record.get("messages"), "tools": record.get("tools") or [],
           "checklists": record.get("checklists") or []}
    task = cm2_task_dict(cm2, options.variant if cm2["checklists"] else 0, options.domain)
    md = {"source": "cm2_env.data", "uuid": record["id"],
          "checklist_variant": options.variant if cm2["checklists"] else None,
          "provenance": record.get("source")}
    if options.keep_meta and isinstance(record.get("meta"), dict) and record["meta"]:
        md["data_meta"] = record["meta"]
    task["metadata"] = {k: v for k, v in md.items() if v is not None}
    if not cm2["checklists"]:
        task["checklist_variants"] = []
    return task


def task_errors(task: dict[str, Any]) -> list[str]:
    from cm2_env.tasks.loader import validate_document

    return [f"{e.path}: {e.message}" for e in validate_document({"tasks": [task]})]


def run_to_tasks(inp: Path, out: Path, options: Options, *, resume: bool = True) -> dict[str, Any]:
    if not out.name.endswith(".jsonl"):
        raise DataError(f"to-tasks writes a JSONL task file: name the output *.jsonl (got {out.name})")
    with StageOutput(out, "to-tasks", resume=resume, options=options.model_dump(mode="json"), input=str(inp),
                     options_changed="fresh") as so:
        for _, record in iter_records(inp, so):
            checklists = record.get("checklists")
            if options.require_checklists and not (isinstance(checklists, list) and checklists):
                so.reject(record, ["unlabelled: the record has no checklists (run `cm2 data label` first, or "
                                   "--no-require-checklists)"])
                continue
            try:
                task = task_of(record, options)
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                so.reject(record, [f"invalid_task: {str(e)[:300]}"])
                continue
            errors = task_errors(task)
            if errors:
                more = f"; ... {len(errors) - 10} more" if len(errors) > 10 else ""
                so.reject(record, [f"invalid_task: {'; '.join(errors[:10])}{more}"])
                continue
            so.keep(task)
        return so.finish(tasks=so.kept, task_file=str(out))


STAGE = StageSpec("to-tasks", Options, run_to_tasks,
                  "labelled records -> a cm2 task file (gym.make tasks=, cm2 validate, cm2 data to-verl)")
add_parser, run = STAGE.cli()
