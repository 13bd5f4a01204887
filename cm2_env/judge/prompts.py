"""Prompts and output schemas of the LLM checklist judge (CM2's evidence-grounded structure, our wording)."""

from __future__ import annotations

import json
import re
from typing import Any

from ..tasks.models import ChecklistItem

_THINK = re.compile(r"<think>(.*?)</think>", re.S | re.I)

FOCUS = {
    "assistant.tool_calls": "the assistant's tool calls (which tools, with which arguments, in which order)",
    "assistant.content.user_visible_reply": "the assistant's user-visible replies (not its thinking)",
    "assistant.content.thinking": "the assistant's thinking (<think> blocks)",
    "tool.content": "the tool results returned in this turn",
}

SYSTEM_PROMPT = """\
You are a strict, evidence-based evaluator of a conversation between a user and an AI assistant that can \
call tools. You judge the CURRENT TURN only (from the user's message to the assistant's final reply); earlier \
turns are context. A checklist item is a yes/no question about that turn. It is satisfied if it holds at any \
step of the turn.

How to decide:
- Look at the part of the turn the item focuses on; base the decision only on what the transcript shows.
- The pass condition is the bar: answer true only if it is clearly met. Failure examples show ways to fail.
- Reference evidence shows how a reference assistant satisfied the item; the assistant does not need to match \
it word for word, but must achieve the same thing.
- Give a short rationale (one or two sentences, citing the step) before the answer.
- `step` is the step number where the item is satisfied (null if it is not)."""

ITEM_VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "rationale": {"type": "string", "description": "Short evidence-based reason, citing the step."},
        "step": {"type": ["integer", "null"], "description": "Step where the item is satisfied, or null."},
        "answer": {"type": "boolean", "description": "true if the item is satisfied in this turn."},
    },
    "required": ["rationale", "answer"],
}


def batched_schema(item_ids: list[str]) -> dict[str, Any]:
    """One verdict object per item id; all ids required, no others (so a missing verdict triggers a re-ask)."""
    return {
        "type": "object",
        "properties": {"verdicts": {
            "type": "object",
            "properties": {i: ITEM_VERDICT_SCHEMA for i in item_ids},
            "required": list(item_ids),
            "additionalProperties": False,
        }},
        "required": ["verdicts"],
    }


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit // 2] + " …(truncated)… " + text[-limit // 2:]


def render_message(step: int | None, m: dict[str, Any], max_chars: int = 2000) -> list[str]:
    """One message as transcript lines; thinking, visible reply and tool calls are separated."""
    tag = f"[step {step}] " if step is not None else ""
    role = m.get("role")
    content = m.get("content") or ""
    out: list[str] = []
    if role == "assistant":
        thinking = " ".join(t.strip() for t in _THINK.findall(content))
        visible = _THINK.sub("", content).strip()
        if thinking:
            out.append(f"{tag}ASSISTANT thinking: {_clip(thinking, max_chars)}")
        if visible:
            out.append(f"{tag}ASSISTANT reply (user-visible): {_clip(visible, max_chars)}")
        for tc in m.get("tool_calls") or []:
            fn = tc.get("function") or {}
            args = fn.get("arguments")
            if not isinstance(args, str):
                args = json.dumps(args, ensure_ascii=False)
            out.append(f"{tag}ASSISTANT tool call: {fn.get('name')}({_clip(args, max_chars)})")
        if not out:
            out.append(f"{tag}ASSISTANT: (empty)")
    elif role == "tool":
        name = m.get("name")
        out.append(f"{tag}TOOL result{f' ({name})' if name else ''}: {_clip(content, max_chars)}")
    elif role == "user":
        out.append(f"{tag}USER: {_clip(content, max_chars)}")
    return out


def render_turn(turn_messages: list[dict[str, Any]], max_chars: int) -> str:
    lines = [line for step, m in enumerate(turn_messages) for line in render_message(step, m)]
    return _clip("\n".join(lines), max_chars)


def render_history(history: list[dict[str, Any]], max_chars: int) -> str:
    """Earlier turns (system prompt dropped), most recent kept when too long."""
    lines = [line for m in history if m.get("role") != "system" for line in render_message(None, m, 600)]
    text = "\n".join(lines)
    return text if len(text) <= max_chars else "…" + text[-max_chars:]


def render_item(item: ChecklistItem, *, with_evidence: bool = True, header: str | None = None) -> str:
    lines = [header or f"Item {item.id}", f"- Question: {item.question}"]
    if item.pass_condition:
        lines.append(f"- Pass condition: {item.pass_condition}")
    lines.append(f"- Focus on: {FOCUS.get(item.focus_on, item.focus_on)}")
    if item.failure_examples:
        lines.append("- Failure examples: " + "; ".join(item.failure_examples))
    if with_evidence and item.evidence:
        ev = "; ".join(f"\"{_clip(e.snippet, 300)}\" ({e.from_})" for e in item.evidence[:3])
        lines.append(f"- Reference evidence: {ev}")
    return "\n".join(lines)


def build_context(history: list[dict[str, Any]], turn_messages: list[dict[str, Any]], tools: list[dict[str, Any]],
                  *, max_history_chars: int, max_turn_chars: int) -> str:
    names = ", ".join(t.get("function", t).get("name", "?") for t in tools)
    parts = [f"## Tools available to the assistant\n{names or '(none)'}"]
    hist = render_history(history, max_history_chars)
    if hist:
        parts.append(f"## Earlier turns (context only)\n{hist}")
    parts.append(f"## Current turn (judge this)\n{render_turn(turn_messages, max_turn_chars)}")
    return "\n\n".join(parts)


def per_item_messages(context: str, item: ChecklistItem, *, with_evidence: bool) -> list[dict[str, str]]:
    user = (f"{context}\n\n## Checklist item\n{render_item(item, with_evidence=with_evidence)}\n\n"
            'Reply with JSON only: {"rationale": "...", "step": <int or null>, "answer": true|false}')
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def batched_messages(context: str, items: list[ChecklistItem], *, with_evidence: bool) -> list[dict[str, str]]:
    rendered = "\n\n".join(render_item(it, with_evidence=with_evidence) for it in items)
    ids = ", ".join(it.id for it in items)
    user = (f"{context}\n\n## Checklist items (judge each one independently)\n{rendered}\n\n"
            f'Reply with JSON only: {{"verdicts": {{"<item id>": {{"rationale": "...", "step": <int or null>, '
            f'"answer": true|false}}, ...}}}} with exactly one entry for each of: {ids}.')
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
