"""Rule filter (no LLM): the CM2 reference's nine rules, each switchable, by the reference's names.

    cm2 data filter converted.jsonl --out filtered.jsonl [--no-think-tags] [--duplicate-tools-by-schema]

Every rejected record goes to ``filtered.rejected.jsonl`` with the rules it broke (``"<rule>: <why>"``, one
reason per broken rule); the report's ``rules`` gives per-rule counts — overlapping, a record breaking two
rules counts under both, as the reference reported them — beside the kept and rejected totals. The defaults
are the rules the authors ran (all but ``duplicate_tools_by_schema``). See :mod:`cm2_env.data.rules` for each
rule's meaning and where it differs from the reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .io import StageOutput, iter_records
from .rules import CHECKS, RULES, ArgumentCheck, record_shape_problem
from .stage import StageOptions, StageSpec


class Options(StageOptions):
    tool_schema: bool = True
    """Tools are OpenAI function tools; every call names one and its arguments fit its parameter schema."""
    role_order: bool = True
    """system first only, user → assistant → (tool ...) → assistant ..., ending with an assistant reply."""
    tool_call_response_match: bool = True
    """An assistant message with N tool calls is followed by exactly N tool messages."""
    no_tool_response_in_assistant_message: bool = True
    """No <tool_response> tag inside assistant text."""
    tool_response_json_valid: bool = True
    """Every tool message is non-empty JSON."""
    duplicate_tools_by_schema: bool = False
    """No two tools with the same name and schema (off by default, as the authors ran it)."""
    duplicate_tools_by_name: bool = True
    """No two tools with the same name."""
    non_empty_content: bool = True
    """Every message has non-blank text."""
    think_tags: bool = True
    """Exactly one <think>...</think> per assistant message; none in user and tool messages."""
    argument_check: ArgumentCheck = "jsonschema"
    """tool_schema's argument check: jsonschema (full schema), types (top-level types, the reference's
    intent) or names (required present and no unknown ones, what the reference actually checked)."""
    allow_extra_arguments: bool = False
    """tool_schema: accept arguments that are not parameters of the tool (the reference rejects them)."""

    def enabled(self) -> list[str]:
        return [r for r in RULES if getattr(self, r)]


def check_record(record: Any, options: Options, enabled: list[str] | None = None) -> list[str]:
    """The reasons ``record`` is rejected (``"rule: why"``), empty when it passes every enabled rule."""
    shape = record_shape_problem(record)
    if shape is not None:
        return [f"malformed: {shape}"]
    messages = record["messages"]
    tools = record.get("tools") or []
    out = []
    for rule in enabled if enabled is not None else options.enabled():
        try:
            if rule == "tool_schema":
                why = CHECKS[rule](messages, tools, argument_check=options.argument_check,
                                   allow_extra_arguments=options.allow_extra_arguments)
            else:
                why = CHECKS[rule](messages, tools)
        except Exception as e:  # noqa: BLE001 - a value no rule foresaw is still data, not a crash
            why = f"cannot be checked ({type(e).__name__}: {str(e)[:200]})"
        if why is not None:
            out.append(f"{rule}: {why}")
    return out


def run_filter(inp: Path, out: Path, options: Options, *, resume: bool = True) -> dict[str, Any]:
    enabled = options.enabled()
    with StageOutput(out, "filter", resume=resume, options=options.model_dump(mode="json"), input=str(inp),
                     options_changed="fresh") as so:
        for row, record in iter_records(inp, so):
            reasons = check_record(record, options, enabled)
            if reasons:
                so.reject(record, reasons)
            else:
                so.keep(raw=row.raw)
        rules = {r: so.reasons.get(r, 0) if r in enabled else None for r in RULES}
        return so.finish(rules=rules, enabled_rules=enabled,
                         total=so.kept + so.rejected)


STAGE = StageSpec("filter", Options, run_filter, "rule filter: the reference's nine rules, each switchable")
add_parser, run = STAGE.cli()
