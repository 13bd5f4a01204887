"""Build VeRL train/val parquet files from cm2 tasks (one row per task, deterministic split by seed).

    cm2 data to-verl --tasks starter --out data/verl --val-fraction 0.1 --seed 0

Each row has the columns verl's ``RLHFDataset`` and agent loops read:

- ``data_source``: ``cm2/<domain>`` (verl groups validation metrics by it)
- ``prompt``: the episode's opening messages (system prompt, first scripted user message) — informational;
  the cm2 agent loop takes the real opening from ``env.reset``
- ``agent_name``: ``cm2_env`` (selects ``train.verl.agent_loop.CM2AgentLoop``)
- ``ability``: ``tool_use``
- ``reward_model``: ``{"style": "cm2_checklist", "ground_truth": <task id>}`` (verl's dataset/validation code
  expects the column; the score itself comes from the env, not from a reward function)
- ``extra_info``: ``index``, ``split``, ``env_id``, ``env_kwargs`` (JSON text, e.g. ``{"tasks": "starter"}``),
  ``task_id``, ``domain``, ``num_turns``
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any, Sequence

DEFAULT_ENV_ID = "cm2/ToolTask-v0"
AGENT_NAME = "cm2_env"


def task_rows(
    tasks: Sequence[Any],
    *,
    env_id: str = DEFAULT_ENV_ID,
    env_kwargs: dict[str, Any] | None = None,
    split: str = "train",
    start_index: int = 0,
) -> list[dict[str, Any]]:
    """One verl dataset row per task (see the module docstring for the columns)."""
    env_kwargs_json = json.dumps(env_kwargs or {}, sort_keys=True)
    rows = []
    for i, task in enumerate(tasks):
        prompt = [{"role": "system", "content": task.system_prompt or ""}]
        first_user = task.turns[0].user if task.turns else None
        if first_user is None and task.user is not None:
            first_user = task.user.goal or ""
        prompt.append({"role": "user", "content": first_user or ""})
        rows.append(
            {
                "data_source": f"cm2/{task.domain}",
                "prompt": prompt,
                "agent_name": AGENT_NAME,
                "ability": "tool_use",
                "reward_model": {"style": "cm2_checklist", "ground_truth": task.id},
                "extra_info": {
                    "index": start_index + i,
                    "split": split,
                    "env_id": env_id,
                    "env_kwargs": env_kwargs_json,
                    "task_id": task.id,
                    "domain": task.domain,
                    "num_turns": len(task.turns),
                },
            }
        )
    return rows


def split_tasks(tasks: Sequence[Any], val_fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    """Deterministic split: tasks sorted by id, shuffled with ``random.Random(seed)``, the first share → val."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    ordered = sorted(tasks, key=lambda t: t.id)
    random.Random(seed).shuffle(ordered)
    n_val = int(round(len(ordered) * val_fraction))
    if val_fraction > 0 and n_val == 0 and len(ordered) > 1:
        n_val = 1
    val, train = ordered[:n_val], ordered[n_val:]
    return sorted(train, key=lambda t: t.id), sorted(val, key=lambda t: t.id)


def tasks_kwarg(source: str) -> str:
    """The env's ``tasks=`` value for a source: a bundled suite name stays a name, a file becomes absolute."""
    from cm2_env.tasks.bundled import portable_source

    return portable_source(source)


def prompt_token_counts(tasks: Sequence[Any], tokenizer: Any, **chat_template_kwargs: Any) -> dict[str, int]:
    """Tokens of each task's opening prompt as the agent loop renders it: chat template over the system
    prompt and first user message, with the task's tools, plus the generation prompt.

    ``tokenizer`` is a Hugging Face tokenizer or a path/name for ``AutoTokenizer.from_pretrained``.
    """
    if isinstance(tokenizer, (str, Path)):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer))
    counts = {}
    for row, task in zip(task_rows(tasks), tasks):
        text = tokenizer.apply_chat_template(
            list(row["prompt"]), tools=task.tools or None, add_generation_prompt=True, tokenize=False,
            **chat_template_kwargs,
        )
        counts[task.id] = len(tokenizer.encode(text, add_special_tokens=False))
    return counts


def to_verl(
    tasks_source: str,
    out_dir: str | Path,
    *,
    selector: str | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    env_id: str = DEFAULT_ENV_ID,
    env_kwargs: dict[str, Any] | None = None,
    repeat: int = 1,
    tokenizer: Any = None,
    max_prompt_length: int | None = None,
) -> dict[str, Any]:
    """Write ``train.parquet`` and ``val.parquet`` into ``out_dir``; returns a summary.

    ``repeat`` > 1 repeats every training task that many times (more prompts per epoch); validation rows
    are never repeated. With a ``tokenizer`` the summary reports prompt lengths (set verl's
    ``data.max_prompt_length`` at least to the maximum); with ``max_prompt_length`` too, tasks whose opening
    prompt is longer are left out (listed in the summary) — verl would left-truncate them.
    """
    import pandas as pd

    from cm2_env.tasks import resolve_tasks, select_tasks

    tasks = select_tasks(resolve_tasks(tasks_source), selector)
    if not tasks:
        raise ValueError(f"no tasks in {tasks_source!r}")
    lengths: dict[str, int] = {}
    dropped: list[str] = []
    if tokenizer is not None:
        lengths = prompt_token_counts(tasks, tokenizer)
        if max_prompt_length is not None:
            dropped = sorted(t.id for t in tasks if lengths[t.id] > max_prompt_length)
            tasks = [t for t in tasks if lengths[t.id] <= max_prompt_length]
            if not tasks:
                raise ValueError(f"every task's prompt is longer than {max_prompt_length} tokens")
    kwargs = {"tasks": tasks_kwarg(tasks_source), **(env_kwargs or {})}
    if selector and "task_selector" not in kwargs:
        kwargs["task_selector"] = selector
    train, val = split_tasks(tasks, val_fraction, seed)
    train = [t for t in train for _ in range(max(1, repeat))]
    train_rows = task_rows(train, env_id=env_id, env_kwargs=kwargs, split="train")
    val_rows = task_rows(val, env_id=env_id, env_kwargs=kwargs, split="val", start_index=len(train_rows))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, rows in (("train", train_rows), ("val", val_rows)):
        path = out / f"{name}.parquet"
        pd.DataFrame(rows, columns=["data_source", "prompt", "agent_name", "ability", "reward_model", "extra_info"]).to_parquet(
            path, index=False
        )
        paths[name] = str(path)
    return {
        "train": paths["train"],
        "val": paths["val"],
        "train_rows": len(train_rows),
        "val_rows": len(val_rows),
        "train_tasks": sorted({t.id for t in train}),
        "val_tasks": [t.id for t in val],
        "env_id": env_id,
        "env_kwargs": kwargs,
        "prompt_tokens": {"max": max(lengths.values()), "mean": sum(lengths.values()) / len(lengths)}
        if lengths else None,
        "dropped_overlong": dropped,
    }


# ------------------------------------------------------------------------------------------ CLI


def add_parser(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--tasks", default="starter", help="bundled suite name or task file (default: starter)")
    sp.add_argument("--select", default=None, help="task selector: id globs or domain:NAME, comma-separated")
    sp.add_argument("--out", required=True, help="output directory for train.parquet and val.parquet")
    sp.add_argument("--val-fraction", type=float, default=0.1, help="share of tasks held out for validation")
    sp.add_argument("--seed", type=int, default=0, help="seed of the deterministic split")
    sp.add_argument("--env", default=DEFAULT_ENV_ID, help="env id written into each row")
    sp.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE",
                    help="env kwarg stored in each row (JSON values allowed)")
    sp.add_argument("--repeat", type=int, default=1, help="repeat each training task this many times")
    sp.add_argument("--tokenizer", default=None,
                    help="HF tokenizer (path or name) to measure prompt lengths with its chat template")
    sp.add_argument("--max-prompt-length", type=int, default=None,
                    help="with --tokenizer: leave out tasks whose opening prompt is longer (verl's data.max_prompt_length)")


def run(args: argparse.Namespace) -> int:
    from ..config import parse_kv

    summary = to_verl(
        args.tasks,
        args.out,
        selector=args.select,
        val_fraction=args.val_fraction,
        seed=args.seed,
        env_id=args.env,
        env_kwargs=parse_kv(args.env_arg),
        repeat=args.repeat,
        tokenizer=args.tokenizer,
        max_prompt_length=args.max_prompt_length,
    )
    print(
        f"wrote {summary['train_rows']} train rows -> {summary['train']}\n"
        f"wrote {summary['val_rows']} val rows -> {summary['val']}\n"
        f"env {summary['env_id']} {json.dumps(summary['env_kwargs'])}"
    )
    if summary["prompt_tokens"]:
        pt = summary["prompt_tokens"]
        print(f"prompt tokens: max {pt['max']}, mean {pt['mean']:.0f} (verl: data.max_prompt_length >= {pt['max']})")
    if summary["dropped_overlong"]:
        print(f"left out {len(summary['dropped_overlong'])} task(s) with longer prompts: "
              + ", ".join(summary["dropped_overlong"]))
    return 0
