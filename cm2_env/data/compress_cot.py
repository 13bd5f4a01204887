"""Shorten the assistant think blocks of the SFT set with an LLM, checked (``cm2 data compress-cot``).

    cm2 data compress-cot sft.jsonl --out sft_short.jsonl [--llm ...] [--max-ratio 1.0]

Per record one request: the conversation plus its think sections (every assistant message with exactly one
``<think>...</think>`` block), numbered; the LLM answers ``{"thinking": [one shorter text per section]}``.
Each section is put back in place of its block — the rest of the message (visible reply, tool calls) is kept
byte for byte — and the result is **checked**: the same number of sections, every assistant message with the
same tool calls and the same user-visible reply as before, still exactly one think block (a rewrite containing
``<think>``, ``</think>`` or ``<tool_call>`` is refused), no empty section, none longer than ``max_ratio`` times
the original. If any check fails, or the request fails, the **original record is kept** with
``meta.compress_cot.compressed: false`` and the reason; nothing is dropped. The report counts compressed and
flagged records (by reason) and the characters of thinking before and after.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import Field

from ..llm import LLMError
from ..parsing import THINK_RE, strip_think
from .label import render_conversation
from .label_validate import thinking_of
from .llm_stage import LLMStageOptions, Outcome, StageContext, conversation_json, reason_of, run_llm_stage
from .stage import StageSpec

ROLE = "cot_compressor"
PROMPT_MARKER = "## Thinking sections to compress"

SYSTEM_PROMPT = """\
You edit the private reasoning ("thinking") of an AI assistant in a tool-use conversation, to make it shorter
for training while keeping what it is for.

For every numbered thinking section write a concise version that
- keeps every decision and its reason: which tool is called and why, the argument values and where they come
  from, constraints from the user, conclusions drawn from tool results, and what the reply must contain;
- keeps the order of the reasoning and stays consistent with the tool calls and the reply that follow it;
- adds nothing that is not in the original (no new facts, no new steps);
- drops repetition, filler, hesitation and self-talk that changes nothing;
- is never longer than the original (an already short section may stay as it is).
Write plain text only: no <think> tags, no tool-call markup.

Answer with one JSON object and nothing else: {"thinking": ["<section 0 rewritten>", "<section 1 rewritten>", ...]}
with exactly one entry per section, in order."""


class Options(LLMStageOptions):
    max_ratio: float = Field(1.0, gt=0)
    """A rewritten section may be at most this times as long as the original (else the record is kept as it was
    and flagged)."""
    prompt_file: str | None = None
    """A file with another system prompt (the answer format stays the same)."""
    max_chars: int | None = 400_000
    """Records whose prompt would be longer are kept unchanged and flagged (too_long) without a call."""


def sections(record: dict[str, Any]) -> list[int]:
    """Indices of the assistant messages with exactly one think block (the ones to compress)."""
    out = []
    for i, m in enumerate(record.get("messages") or []):
        if isinstance(m, dict) and m.get("role") == "assistant" and isinstance(m.get("content"), str):
            if len(THINK_RE.findall(m["content"])) == 1 and "</think>" in m["content"]:
                out.append(i)
    return out


def schema_for(n: int) -> dict[str, Any]:
    return {"type": "object",
            "properties": {"thinking": {"type": "array", "items": {"type": "string"}, "minItems": n, "maxItems": n}},
            "required": ["thinking"], "additionalProperties": False}


def build_messages(record: dict[str, Any], idx: list[int], system: str = SYSTEM_PROMPT) -> list[dict[str, Any]]:
    msgs = record["messages"]
    secs = [{"section": k, "thinking": thinking_of(msgs[i]["content"])} for k, i in enumerate(idx)]
    parts = [f"## Candidate tools\n{conversation_json(record.get('tools') or [])}",
             f"## Conversation\n{conversation_json(render_conversation(record))}",
             f"{PROMPT_MARKER} ({len(idx)} section{'s' if len(idx) != 1 else ''})\n{conversation_json(secs)}"]
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def replace_thinking(content: str, new: str) -> str:
    m = THINK_RE.search(content)
    return content[: m.start()] + "<think>\n" + new.strip() + "\n</think>" + content[m.end():]


def check_rewrite(record: dict[str, Any], idx: list[int], texts: list[str],
                  max_ratio: float) -> tuple[list[dict[str, Any]] | None, str | None]:
    """(the new messages, None) or (None, why the rewrite is refused)."""
    if len(texts) != len(idx):
        return None, f"section_count: {len(texts)} rewritten sections for {len(idx)}"
    old = record["messages"]
    new = [dict(m) if isinstance(m, dict) else m for m in old]
    for k, (i, text) in enumerate(zip(idx, texts)):
        if not isinstance(text, str) or not text.strip():
            return None, f"empty_section: section {k} is empty"
        low = text.lower()
        if "<think>" in low or "</think>" in low or "<tool_call>" in low:
            return None, f"markup: section {k} contains think or tool-call tags"
        before = thinking_of(old[i]["content"])
        if len(text.strip()) > max_ratio * max(len(before), 1):
            return None, f"longer: section {k} has {len(text.strip())} characters, the original {len(before)}"
        new[i]["content"] = replace_thinking(old[i]["content"], text)
    for i, (a, b) in enumerate(zip(old, new)):
        if not isinstance(a, dict) or a.get("role") != "assistant":
            if a != b:
                return None, f"changed: message {i} changed"
            continue
        if json.dumps(a.get("tool_calls"), sort_keys=True) != json.dumps(b.get("tool_calls"), sort_keys=True):
            return None, f"tool_calls_changed: message {i}"
        if strip_think(a.get("content")) != strip_think(b.get("content")):
            return None, f"reply_changed: message {i}'s visible reply changed"
        if i in idx and len(THINK_RE.findall(b["content"])) != 1:
            return None, f"markup: message {i} no longer has exactly one think block"
    return new, None


def make_process(options: Options):
    system = Path(options.prompt_file).read_text() if options.prompt_file else SYSTEM_PROMPT

    async def process(record: dict[str, Any], ctx: StageContext) -> Outcome:
        def flagged(reason: str, before: int = 0) -> Outcome:
            out = dict(record)
            out["meta"] = {**(record.get("meta") or {}),
                           "compress_cot": {"compressed": False, "reason": reason, "chars_before": before,
                                            "chars_after": before}}
            return Outcome(out)

        if not isinstance(record.get("messages"), list):
            return Outcome(None, ["malformed: the record has no message list"])
        idx = sections(record)
        if not idx:
            return flagged("no_thinking: no assistant message with one think block")
        before = sum(len(thinking_of(record["messages"][i]["content"])) for i in idx)
        msgs = build_messages(record, idx, system)
        size = sum(len(m["content"]) for m in msgs)
        if options.max_chars is not None and size > options.max_chars:
            return flagged(f"too_long: the prompt would be {size} characters", before)
        try:
            resp = await ctx.client().chat_json(msgs, schema_for(len(idx)), schema_name="compressed_thinking",
                                                **ctx.effort())
        except LLMError as exc:
            return flagged(reason_of(exc), before)
        new, why = check_rewrite(record, idx, resp.data["thinking"], options.max_ratio)
        if new is None:
            return flagged(why, before)
        after = sum(len(thinking_of(new[i]["content"])) for i in idx)
        out = dict(record)
        out["messages"] = new
        out["meta"] = {**(record.get("meta") or {}),
                       "compress_cot": {"compressed": True, "sections": len(idx), "chars_before": before,
                                        "chars_after": after}}
        return Outcome(out)

    return process


def _counters(record: dict[str, Any], kept: bool) -> dict[str, float]:
    c = (record.get("meta") or {}).get("compress_cot") or {}
    if not kept or not c:
        return {}
    out: Counter = Counter(chars_before=c.get("chars_before", 0), chars_after=c.get("chars_after", 0))
    if c.get("compressed"):
        out["compressed"] = 1
    else:
        out["kept_original"] = 1
        out["flagged:" + str(c.get("reason") or "?").split(":", 1)[0]] = 1
    return dict(out)


def run_compress_cot(inp: Path, out: Path, options: Options, *, resume: bool = True) -> dict[str, Any]:
    def extra(c: dict[str, float]) -> dict[str, Any]:
        b, a = c.get("chars_before", 0), c.get("chars_after", 0)
        return {"compressed": int(c.get("compressed", 0)), "kept_original": int(c.get("kept_original", 0)),
                "flagged": {k.split(":", 1)[1]: int(v) for k, v in c.items() if k.startswith("flagged:")},
                "thinking_chars": {"before": int(b), "after": int(a), "ratio": round(a / b, 4) if b else None}}

    return run_llm_stage("compress-cot", inp, out, options, make_process(options), resume=resume, role=ROLE,
                         counters=_counters, report_extra=extra)


STAGE = StageSpec("compress-cot", Options, run_compress_cot,
                  "shorten assistant think blocks (LLM), checked: same calls and replies, else the original, flagged")
add_parser, run = STAGE.cli()
