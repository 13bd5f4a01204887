"""The CM2 checklist labeller (LLM): per user turn, validated evidence-grounded checklist items (``cm2 data label``).

    cm2 data label selected.jsonl --out labelled.jsonl --llm '{"base_url": "http://127.0.0.1:8011/v1", "model": "m"}'
    cm2 data label selected.jsonl --out labelled.jsonl --variants 3 --reasoning-effort high   # gpt-5 (OPENAI_API_KEY)

Each record's conversation goes to the labeller LLM with its turns and steps numbered; the answer (structured
output: ``{"turns": [{"turn", "checklist": [item, ...]}]}``) is validated by
:func:`cm2_env.data.label_validate.validate_checklists` — enums, dependence ids of the turn that point at
``tool.content`` items, weights summing to 1 per turn, one checklist per user turn, and every evidence snippet
found in the message part it cites. Invalid output is sent back with the validator's errors, at most
``max_reasks`` times; a variant still invalid then rejects the record, with those errors as its reasons (keyed
by rule: ``weights``, ``evidence_not_found``, ...). ``variants`` > 1 asks for several independent checklists
(distinct samples; set a temperature in ``llm`` to make them differ).

The kept record gains ``checklists[variant][turn][item]`` with CM2's item fields (the shape the CM2 authors'
labelled files have, which ``cm2_env.tasks.from_cm2`` and ``cm2 data to-tasks`` read), ``meta.label`` (asks
per variant) and ``meta.usage.label`` (calls, tokens, USD); the report has the totals.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import Field

from ..llm import LLMError
from ..parsing import strip_think
from .label_validate import (EVIDENCE_FROM, FOCUS_ON, ITEM_FIELDS, conversation_turns, rendered_calls,
                             thinking_of, validate_checklists)
from .llm_stage import LLMStageOptions, Outcome, StageContext, conversation_json, run_llm_stage
from .stage import StageSpec

ROLE = "labeller"
PROMPT_MARKER = "## Conversation to label"
"""Heading of the conversation in the labeller's prompt (the scripted test server keys on it)."""

SYSTEM_PROMPT = """\
You write grading checklists for conversations in which an AI assistant serves a user with the help of tools.

You get a reference conversation that solved the user's requests well, split into turns: each turn opens with
one user message (step 0), followed by assistant messages (steps 1, 2, ...) and the tool results they asked
for. An assistant message may hold private reasoning ("thinking", never shown to the user), tool calls, and a
reply the user sees.

For every turn write one checklist: the binary (yes/no) criteria another assistant, answering the same user in
the same situation, must meet for that turn to count as solved. The checklist will judge that other
assistant's turn as a whole: an item passes if it is met by the end of the turn, at whatever step and by
whatever route, as long as the result is the same and the user's requirements are followed.

Each item:
- "id": "C0", "C1", ... numbered from 0 within the turn;
- "question": one yes/no question about one observable thing (one requirement per item; no "if"/"when"
  assumptions inside the question);
- "pass_condition": exactly what must be observed for a yes. For a tool call name the tool and each argument
  that matters with its value, e.g. name=search_flights and arguments.origin == "SFO"; say where a
  tolerance is acceptable (e.g. a rounded number, an equivalent spelling) and where the value must match;
- "focus_on": the part of the trajectory the item looks at: "assistant.tool_calls",
  "assistant.content.thinking", "assistant.content.user_visible_reply" or "tool.content";
- "evidence": at least one pointer {"turn", "step", "from", "snippet"} into the reference where it meets the
  item; "from" is one of "user.content", "assistant.content.thinking", "assistant.content.user_visible_reply",
  "assistant.tool_calls", "tool.content"; "snippet" is text copied VERBATIM from that part of that message
  (for tool calls, copy from the call as shown, e.g. "name": "get_weather" or "city": "Paris"). Prefer
  assistant and tool steps over the user message;
- "failure_examples": short typical ways to fail the item;
- "required_for_next_turn": true if the conversation cannot sensibly go on when this item fails;
- "dependence": ids of items of the same turn this one builds on; only items whose focus_on is
  "tool.content" (information a tool must have returned) may be depended on; [] when none;
- "weight": a number in [0, 1]; the weights of one turn sum to exactly 1 and reflect how much each item
  matters for the user's request.

Cover what the turn needs: the right tool calls with the right arguments, the key information obtained, the
key reasoning, and a final reply that is correct, complete and grounded in the tool results (no invented
facts). Leave out style, formatting and the reference's failed attempts or self-corrections (assume tools
work); do not limit the number of tool calls; do not mention turn or step numbers in questions, conditions or
failure examples; an argument with a default value is not required.

Answer with one JSON object and nothing else:
{"turns": [{"turn": 0, "checklist": [ITEM, ...]}, {"turn": 1, "checklist": [...]}, ...]}
with exactly one entry per turn, in order."""

EVIDENCE_SCHEMA = {
    "type": "object",
    "properties": {"turn": {"type": "integer", "minimum": 0}, "step": {"type": "integer", "minimum": 0},
                   "from": {"type": "string", "enum": list(EVIDENCE_FROM)}, "snippet": {"type": "string"}},
    "required": ["turn", "step", "from", "snippet"],
    "additionalProperties": False,
}
ITEM_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "question": {"type": "string"},
        "pass_condition": {"type": "string"},
        "focus_on": {"type": "string", "enum": list(FOCUS_ON)},
        "evidence": {"type": "array", "items": EVIDENCE_SCHEMA},
        "failure_examples": {"type": "array", "items": {"type": "string"}},
        "required_for_next_turn": {"type": "boolean"},
        "dependence": {"type": "array", "items": {"type": "string"}},
        "weight": {"type": "number"},
    },
    "required": list(ITEM_FIELDS),
    "additionalProperties": False,
}
LABEL_SCHEMA = {
    "type": "object",
    "properties": {"turns": {"type": "array", "items": {
        "type": "object",
        "properties": {"turn": {"type": "integer", "minimum": 0}, "checklist": {"type": "array", "items": ITEM_SCHEMA}},
        "required": ["turn", "checklist"],
        "additionalProperties": False,
    }}},
    "required": ["turns"],
    "additionalProperties": False,
}
"""What the labeller must answer (sent as response_format json_schema where the server takes it)."""


class Options(LLMStageOptions):
    variants: int = Field(1, ge=1)
    """Checklist variants per record (independent samples)."""
    min_variants: int | None = None
    """Variants that must validate for the record to be kept (None: all); the failed ones are listed in
    meta.label.failed."""
    max_reasks: int = Field(2, ge=0)
    """Times invalid output is sent back with the validation errors before the variant fails."""
    weight_tol: float = Field(1e-6, ge=0)
    """How far a turn's weights may sum from 1."""
    dependence_tool_content_only: bool = True
    """Items may depend only on items whose focus_on is tool.content (the CM2 authors' rule)."""
    max_chars: int | None = 400_000
    """Records whose prompt would be longer are rejected (too_long) without a call; None: no limit."""
    prompt_file: str | None = None
    """A file with another system prompt (the answer format stays the same)."""


def render_conversation(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages with their turn and step, assistant content split into thinking and visible reply."""
    out: list[dict[str, Any]] = []
    for t, turn in enumerate(conversation_turns(record.get("messages") or [])):
        for s, m in enumerate(turn):
            role = m.get("role")
            e: dict[str, Any] = {"turn": t, "step": s, "role": role}
            if role == "assistant":
                content = m.get("content")
                thinking = thinking_of(content)
                if thinking:
                    e["thinking"] = thinking
                e["reply"] = strip_think(content) if isinstance(content, str) else ""
                calls = rendered_calls(m.get("tool_calls"))
                if calls:
                    e["tool_calls"] = calls
            elif role == "tool":
                if m.get("name"):
                    e["name"] = m["name"]
                e["content"] = m.get("content")
            else:
                e["content"] = m.get("content")
            out.append(e)
    return out


def system_prompt_of(record: dict[str, Any]) -> str | None:
    msgs = record.get("messages") or []
    if msgs and isinstance(msgs[0], dict) and msgs[0].get("role") == "system":
        return msgs[0].get("content") or None
    return None


def build_messages(record: dict[str, Any], system: str = SYSTEM_PROMPT) -> list[dict[str, Any]]:
    turns = render_conversation(record)
    n = len({e["turn"] for e in turns})
    parts = [f"## Candidate tools\n{conversation_json(record.get('tools') or [])}"]
    sp = system_prompt_of(record)
    if sp:
        parts.append(f"## The assistant's system prompt (not part of any turn)\n{sp}")
    parts.append(f"{PROMPT_MARKER} ({n} turn{'s' if n != 1 else ''}: write {n} checklist{'s' if n != 1 else ''})\n"
                 f"{conversation_json(turns)}")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def checklists_from_output(data: dict[str, Any], n_turns: int) -> tuple[list[list[dict[str, Any]]], list[str]]:
    """The labeller's answer as ``[turn][item]`` (items in CM2's field order) and the problems of its turn list."""
    blocks = data.get("turns") or []
    errors: list[str] = []
    by_turn: dict[int, list[dict[str, Any]]] = {}
    for k, b in enumerate(blocks):
        t = b.get("turn")
        if t in by_turn:
            errors.append(f"turn_count: turn {t} has two checklists (entries {k} and an earlier one)")
            continue
        if not isinstance(t, int) or t >= n_turns:
            errors.append(f"turn_count: entry {k} is for turn {t}, but the conversation has turns 0..{n_turns - 1}")
            continue
        by_turn[t] = [{f: it[f] for f in ITEM_FIELDS if f in it} for it in b.get("checklist") or []]
    missing = [t for t in range(n_turns) if t not in by_turn]
    if missing:
        errors.append(f"turn_count: no checklist for turn(s) {', '.join(map(str, missing))} (one per user message)")
    return [by_turn.get(t, []) for t in range(n_turns)], errors


def feedback(errors: list[str], ask: int = 1, of: int = 1, limit: int = 30) -> str:
    """The re-ask message (its number in it, so that each re-ask is a request of its own, never a cache hit)."""
    shown = "\n".join(f"- {e}" for e in errors[:limit])
    more = f"\n- ... and {len(errors) - limit} more" if len(errors) > limit else ""
    return (f"Your checklist JSON failed validation (re-ask {ask} of {of}):\n" + shown + more + "\n\nFix every problem and answer again "
            "with the complete corrected JSON object for all turns, and nothing else. Evidence snippets must be "
            "copied verbatim from the cited part of the cited message.")


async def label_variant(record: dict[str, Any], ctx: StageContext, options: Options, variant: int,
                        base: list[dict[str, Any]]) -> tuple[list[list[dict[str, Any]]] | None, list[str], int]:
    """(checklists or None, the last errors, asks made) for one variant."""
    n_turns = len(conversation_turns(record.get("messages") or []))
    client = ctx.client()
    convo = base
    errors: list[str] = []
    for ask in range(options.max_reasks + 1):
        try:
            resp = await client.chat_json(convo, LABEL_SCHEMA, schema_name="cm2_checklists", sample=variant,
                                          **ctx.effort())
            text = resp.text
            checklists, errors = checklists_from_output(resp.data, n_turns)
            errors += validate_checklists(checklists, record["messages"], weight_tol=options.weight_tol,
                                          dependence_tool_content_only=options.dependence_tool_content_only)
        except LLMError as exc:
            if exc.kind != "invalid_output":
                raise
            text, errors = exc.last_text or "", [f"schema: {exc.message}"]
        if not errors:
            return checklists, [], ask + 1
        convo = base + [{"role": "assistant", "content": text[:60_000]},
                        {"role": "user", "content": feedback(errors, ask + 1, options.max_reasks)}]
    return None, errors, options.max_reasks + 1


def make_process(options: Options):
    system = Path(options.prompt_file).read_text() if options.prompt_file else SYSTEM_PROMPT

    async def process(record: dict[str, Any], ctx: StageContext) -> Outcome:
        msgs = record.get("messages")
        if not isinstance(msgs, list) or not conversation_turns(msgs):
            return Outcome(None, ["no_user_turn: the record has no user message to label"])
        base = build_messages(record, system)
        size = sum(len(m["content"]) for m in base)
        if options.max_chars is not None and size > options.max_chars:
            return Outcome(None, [f"too_long: the prompt would be {size} characters (max_chars {options.max_chars})"])
        if options.variants == 1:  # no task of its own: the request goes out in this task step
            results = [await label_variant(record, ctx, options, 0, base)]
        else:
            results = await asyncio.gather(*(label_variant(record, ctx, options, v, base)
                                             for v in range(options.variants)))
        good = [r[0] for r in results if r[0] is not None]
        failed = {v: r[1] for v, r in enumerate(results) if r[0] is None}
        need = options.variants if options.min_variants is None else min(options.min_variants, options.variants)
        asks = [r[2] for r in results]
        if len(good) < max(need, 1):
            reasons = []
            for v, errs in failed.items():
                for e in errs[:20]:
                    key, _, detail = e.partition(": ")
                    reasons.append(f"{key}: variant {v} (after {asks[v]} ask{'s' if asks[v] != 1 else ''}): {detail}")
            return Outcome(None, reasons)
        out = dict(record)
        out["meta"] = dict(record.get("meta") or {})
        if record.get("checklists"):
            out["meta"]["label_replaced_checklists"] = True
        out["checklists"] = good
        out["meta"]["label"] = {"variants": len(good), "asks": asks,
                                **({"failed": {str(v): e[:20] for v, e in failed.items()}} if failed else {})}
        return Outcome(out)

    return process


def _counters(record: dict[str, Any], kept: bool) -> dict[str, float]:
    if not kept:
        return {}
    lab = (record.get("meta") or {}).get("label") or {}
    asks = lab.get("asks") or []
    cls = record.get("checklists") or []
    items = sum(len(t) for v in cls if isinstance(v, list) for t in v if isinstance(t, list))
    return {"variants": len(cls), "items": items, "asks": sum(asks), "reasked_variants": sum(1 for a in asks if a > 1)}


def run_label(inp: Path, out: Path, options: Options, *, resume: bool = True) -> dict[str, Any]:
    # the role's own JSON re-ask is off: every re-ask (schema or checklist errors) is this stage's, bounded by
    # max_reasks, so one invalid answer costs one more request, not (1 + reask) x (1 + max_reasks)
    return run_llm_stage("label", inp, out, options, make_process(options), resume=resume, role=ROLE,
                         counters=_counters, stage_defaults={"reask": 0})


STAGE = StageSpec("label", Options, run_label,
                  "CM2 checklist labeller (LLM): validated per-turn checklists with evidence, re-asked when invalid")
add_parser, run = STAGE.cli()
