"""LLM filter: a strict tool-use verdict run as a progressive cascade of reasoning efforts (``cm2 data llm-filter``).

The question the CM2 authors asked of every conversation — is the tool use logical, unambiguous, realistic
and free of errors? — answered as a reason and a boolean, in passes of rising reasoning effort.

    cm2 data llm-filter filtered.jsonl --out clean.jsonl                      # gpt-5, efforts low,low,medium,...
    cm2 data llm-filter filtered.jsonl --out clean.jsonl --efforts low,high \\
        --llm '{"base_url": "http://127.0.0.1:8000/v1", "model": "Qwen/Qwen3-8B"}' --effort-param null \\
        --effort-models '{"low": "Qwen/Qwen3-8B", "high": "Qwen/Qwen3-32B"}'

Each record goes through the passes of ``efforts`` in order (the CM2 authors' default: low, low, medium,
medium, high, high, high, high): every pass asks for ``{"reason", "no_error"}`` (structured output); the record
is dropped at its first ``no_error: false`` — so only the survivors pay for the next, stronger pass — and kept
after passing all. A pass's effort level is sent as the server's reasoning-effort field (``effort_param``,
OpenAI/vLLM ``reasoning_effort``) or, for a level named in ``effort_models``, selects that model instead.
Passes at the same level are distinct samples (their own cache entries), as the authors ran them.

A kept record carries ``meta.llm_filter`` (each pass's level, verdict and reason); a dropped one is rejected
with ``llm_rejected: pass K (LEVEL): REASON``. The report counts, per pass, the records it judged and dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from .label import render_conversation, system_prompt_of
from .llm_stage import LLMStageOptions, Outcome, StageContext, conversation_json, run_llm_stage
from .stage import StageSpec

ROLE = "llm_filter"
PROMPT_MARKER = "## Conversation under review"
DEFAULT_EFFORTS = ["low", "low", "medium", "medium", "high", "high", "high", "high"]

SYSTEM_PROMPT = """\
You audit recorded conversations between a user, an AI assistant and tools, to decide whether one may serve as
a training example of correct tool use.

The tools listed are the ones the assistant could call. Assistant messages may contain private reasoning
("thinking"); it is never shown to the user and is removed before training, so do not judge its wording —
judge what the assistant did and said.

The conversation is flawed if anything in it would be wrong or implausible for a careful assistant, e.g.:
- a tool call does not follow from the user's request or from earlier results, or a needed call is missing;
- a call breaks the tool's schema (unknown tool, missing required argument, wrong type) or uses argument
  values nobody supplied and that cannot be inferred;
- the request is ambiguous and the assistant guesses instead of asking;
- a reply states facts that no tool result or user message supports, misreports a result, or ignores part of
  the request;
- the exchange as a whole could not plausibly happen in reality.

Be strict: if you are unsure, the conversation is flawed.
Answer with one JSON object and nothing else: {"reason": "<one or two sentences>", "no_error": true or false}
(no_error true only if you found no problem)."""

VERDICT_SCHEMA = {
    "type": "object",
    "properties": {"reason": {"type": "string"}, "no_error": {"type": "boolean"}},
    "required": ["reason", "no_error"],
    "additionalProperties": False,
}


class Options(LLMStageOptions):
    efforts: list[str] = Field(default_factory=lambda: list(DEFAULT_EFFORTS))
    """The cascade's passes, weakest first: one reasoning-effort level each (a record is dropped at its first
    false verdict)."""
    effort_models: dict[str, str] = Field(default_factory=dict)
    """Level -> model for servers without a reasoning-effort field: a pass at a level named here uses that model
    (and sends no effort field)."""
    prompt_file: str | None = None
    """A file with another system prompt (the answer format stays the same)."""
    max_chars: int | None = 400_000
    """Records whose prompt would be longer are rejected (too_long) without a call; None: no limit."""

    @field_validator("efforts", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [s.strip() for s in v.split(",") if s.strip()]
        return v

    @field_validator("efforts")
    @classmethod
    def _nonempty(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("the cascade needs at least one pass")
        return v


def build_messages(record: dict[str, Any], system: str = SYSTEM_PROMPT) -> list[dict[str, Any]]:
    parts = [f"## Candidate tools\n{conversation_json(record.get('tools') or [])}"]
    sp = system_prompt_of(record)
    if sp:
        parts.append(f"## The assistant's system prompt\n{sp}")
    parts.append(f"{PROMPT_MARKER}\n{conversation_json(render_conversation(record))}")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def make_process(options: Options):
    system = Path(options.prompt_file).read_text() if options.prompt_file else SYSTEM_PROMPT

    async def process(record: dict[str, Any], ctx: StageContext) -> Outcome:
        msgs = build_messages(record, system)
        size = sum(len(m["content"]) for m in msgs)
        if options.max_chars is not None and size > options.max_chars:
            return Outcome(None, [f"too_long: the prompt would be {size} characters (max_chars {options.max_chars})"])
        passes: list[dict[str, Any]] = []
        for k, level in enumerate(options.efforts):
            model = options.effort_models.get(level)
            client = ctx.client(model)
            overrides = {} if model else ctx.effort(level)
            resp = await client.chat_json(msgs, VERDICT_SCHEMA, schema_name="tool_use_verdict", sample=k, **overrides)
            ok = bool(resp.data["no_error"])
            reason = str(resp.data.get("reason") or "")[:2000]
            passes.append({"pass": k, "effort": level, **({"model": model} if model else {}), "no_error": ok,
                           "reason": reason})
            if not ok:
                rej = dict(record)
                rej["meta"] = {**(record.get("meta") or {}), "llm_filter": {"passes": passes, "dropped_at": k}}
                return Outcome(None, [f"llm_rejected: pass {k} ({level}): {reason[:500]}"], rejected_record=rej)
        out = dict(record)
        out["meta"] = {**(record.get("meta") or {}), "llm_filter": {"passes": passes, "dropped_at": None}}
        return Outcome(out)

    return process


def _counters(record: dict[str, Any], kept: bool) -> dict[str, float]:
    lf = (record.get("meta") or {}).get("llm_filter") or {}
    passes = lf.get("passes") or []
    out: dict[str, float] = {}
    for p in passes:
        k = p.get("pass")
        out[f"pass_{k}_judged"] = 1
        if not p.get("no_error"):
            out[f"pass_{k}_dropped"] = 1
    out["calls_in_cascade"] = len(passes)
    return out


def run_llm_filter(inp: Path, out: Path, options: Options, *, resume: bool = True) -> dict[str, Any]:
    def extra(c: dict[str, float]) -> dict[str, Any]:
        per_pass = [{"pass": k, "effort": lvl, "judged": int(c.get(f"pass_{k}_judged", 0)),
                     "dropped": int(c.get(f"pass_{k}_dropped", 0))} for k, lvl in enumerate(options.efforts)]
        return {"cascade": per_pass}

    return run_llm_stage("llm-filter", inp, out, options, make_process(options), resume=resume, role=ROLE,
                         counters=_counters, report_extra=extra)


STAGE = StageSpec("llm-filter", Options, run_llm_filter,
                  "LLM filter (progressive cascade of reasoning efforts): drop flawed tool use at the first false")
add_parser, run = STAGE.cli()
