"""The data stages as one registry: each is an options model plus a run function, usable from the CLI
(``cm2 data STAGE INPUT --out OUTPUT [--option value ...]``) and from the configured pipeline alike.

A stage module declares

    class Options(StageOptions):
        seed: int = 0
        \"\"\"Seed of the split.\"\"\"

    STAGE = StageSpec("split", Options, run_split, "seeded split into an SFT set and the RL pool")

where ``run_split(inp: Path, out: Path, options: Options, *, resume: bool) -> dict`` streams ``inp`` and writes
through :class:`cm2_env.data.io.StageOutput`, returning its report. Options are parsed once at the edge: the
CLI flags are generated from the model's fields (their docstrings are the help), the pipeline passes the
config's mapping to ``Options.model_validate``.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

from cm2_env.components import Registry

from .io import DataError


class StageOptions(BaseModel):
    """Base of every stage's options: unknown keys are errors (a typo in a config must not pass silently)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


RunFn = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class StageSpec:
    """One data stage."""

    name: str
    """The subcommand name (``cm2 data NAME``) and the pipeline's stage key."""
    options: type[StageOptions]
    """The stage's options model."""
    run: RunFn
    """``run(inp, out, options, *, resume) -> report``."""
    help: str
    """One line for ``cm2 data --help``."""
    chain: bool = True
    """Whether the pipeline feeds this stage's output to the next stage (False for a report-only stage such
    as ``stats``, which reads the chain and leaves it as it is)."""

    def parse_options(self, values: dict[str, Any] | None) -> StageOptions:
        try:
            return self.options.model_validate(dict(values or {}))
        except ValidationError as exc:
            raise DataError(f"{self.name}: bad options: {exc}") from None

    def __call__(self, inp: str | Path, out: str | Path, options: dict[str, Any] | StageOptions | None = None,
                 *, resume: bool = True) -> dict[str, Any]:
        opts = options if isinstance(options, StageOptions) else self.parse_options(options)
        return self.run(Path(inp), Path(out), opts, resume=resume)

    # --------------------------------------------------------------------------------------- CLI

    def add_parser(self, sp: argparse.ArgumentParser) -> None:
        sp.description = self.help
        sp.add_argument("input", help="input file (JSONL unless the stage says otherwise)")
        sp.add_argument("--out", required=True, help="output JSONL; a report and rejected records go beside it")
        sp.add_argument("--fresh", action="store_true", help="start the outputs afresh instead of resuming")
        for name, f in self.options.model_fields.items():
            flag = "--" + name.replace("_", "-")
            help_ = (f.description or "").strip().replace("%", "%%")
            default = f.get_default(call_default_factory=True)
            if _is_bool(f.annotation):
                sp.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=f"{help_} (default: {default})")
            elif get_origin(f.annotation) is Literal:
                sp.add_argument(flag, dest=name, default=argparse.SUPPRESS,
                                choices=[str(a) for a in get_args(f.annotation)], help=f"{help_} (default: {default})")
            else:
                sp.add_argument(flag, dest=name, default=argparse.SUPPRESS, metavar=name.upper(),
                                help=f"{help_} (default: {json.dumps(default, default=str)})")

    def run_cli(self, args: argparse.Namespace) -> int:
        raw = {k: _coerce(v) for k, v in vars(args).items() if k in self.options.model_fields}
        try:
            report = self(args.input, args.out, raw, resume=not args.fresh)
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(_summary(report))
        return 0

    def cli(self) -> tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]:
        """``(add_parser, run)`` as the ``cm2`` command's plugin modules expose them."""
        return self.add_parser, self.run_cli


def _is_bool(annotation: Any) -> bool:
    return annotation is bool or (get_origin(annotation) is not None and bool in get_args(annotation)
                                  and all(a in (bool, type(None)) for a in get_args(annotation)))


def _coerce(text: Any) -> Any:
    """A CLI string as the JSON/Python literal it spells (``3``, ``0.5``, ``[1,2]``, ``{"a":1}``), else itself;
    ``a,b,c`` becomes a list, so list options read naturally on the command line."""
    if not isinstance(text, str):
        return text
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError):
            pass
    if "," in text:
        return [_coerce(t) for t in text.split(",")]
    return text


def _summary(report: dict[str, Any]) -> str:
    line = f"{report.get('stage')}: kept {report.get('kept', 0)}, rejected {report.get('rejected', 0)}"
    if report.get("skipped_already_done"):
        line += f", {report['skipped_already_done']} already done"
    if report.get("cost_usd") is not None:
        line += f", cost ${report['cost_usd']:.4f}"
    line += f" -> {report.get('output')}"
    reasons = report.get("reasons") or {}
    if reasons:
        line += "\n  reasons: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
    return line


# Every stage, by name → "module:STAGE" (imported on first use).
STAGES = Registry(
    "data stage",
    lazy={
        "convert": "cm2_env.data.convert:STAGE",
        "filter": "cm2_env.data.filter:STAGE",
        "llm-filter": "cm2_env.data.llm_filter:STAGE",
        "split": "cm2_env.data.split:STAGE",
        "compress-cot": "cm2_env.data.compress_cot:STAGE",
        "select": "cm2_env.data.select:STAGE",
        "stats": "cm2_env.data.stats:STAGE",
        "label": "cm2_env.data.label:STAGE",
        "derive-checks": "cm2_env.data.derive_checks:STAGE",
        "to-tasks": "cm2_env.data.to_tasks:STAGE",
    },
)


def get_stage(name: str) -> StageSpec:
    return STAGES.get(name)


def stage_modules() -> dict[str, str]:
    """Stage name → module path, for the ``cm2 data`` group (only stages whose module exists)."""
    import importlib.util

    out = {}
    for name in STAGES.names():
        target = STAGES._lazy.get(name)
        if target is None:
            continue
        module = target.rpartition(".")[0]
        if importlib.util.find_spec(module) is not None:
            out[name] = module
    return out


__all__ = ["StageOptions", "StageSpec", "STAGES", "get_stage", "stage_modules"]
