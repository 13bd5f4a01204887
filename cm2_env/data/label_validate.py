"""Validation of CM2 checklists against the conversation they label (used by ``cm2 data label``, and usable on
any labelled record, e.g. the CM2 authors' own).

A record's checklists are ``[turn][item]`` (one variant), one checklist per user message. Each rule's errors
start with the rule's key, so rejection counts read per rule:

- ``turn_count``: one checklist per user turn (the labeller's ``turn`` indices 0..n-1, each once);
- ``item``: required fields with the right types (non-empty id unique in its turn, question, pass condition,
  failure examples, required_for_next_turn boolean), no fields a task item cannot hold;
- ``enum``: ``focus_on`` and evidence ``from`` among CM2's values;
- ``evidence_missing``: every item cites at least one evidence snippet;
- ``evidence_pointer``: the cited turn/step exists, is not in a later turn than the item, and is a message of
  the role the ``from`` part belongs to (user.content → a user message, assistant.* → an assistant message,
  tool.content → a tool message);
- ``evidence_not_found``: the snippet occurs in that part of that message (verbatim, or after collapsing white
  space, JSON quote escapes and case; tool calls are matched against their JSON, with arguments as the record
  has them or parsed);
- ``dependence``: ids of the same turn, not the item itself, no cycles, and — as the CM2 authors require — only
  items whose ``focus_on`` is ``tool.content`` may be depended on;
- ``weights``: finite numbers in [0, 1] summing to 1 per turn (within ``weight_tol``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ..parsing import THINK_RE, strip_think
from ..tasks.models import ChecklistItem, dependence_cycles

FOCUS_ON = ("assistant.tool_calls", "assistant.content.thinking", "assistant.content.user_visible_reply",
            "tool.content")
EVIDENCE_FROM = ("user.content", *FOCUS_ON)
ITEM_FIELDS = ("id", "question", "pass_condition", "focus_on", "evidence", "failure_examples",
               "required_for_next_turn", "dependence", "weight")
ALLOWED_FIELDS = frozenset(ChecklistItem.model_fields)
_ROLE_OF = {"user.content": "user", "tool.content": "tool"}


def conversation_turns(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The messages split at user messages: turn t = [user, assistant/tool ...]; step = index in the turn.
    Messages before the first user message (the system prompt) belong to no turn."""
    turns: list[list[dict[str, Any]]] = []
    for m in messages:
        if not isinstance(m, dict):
            continue
        if m.get("role") == "user":
            turns.append([])
        if turns:
            turns[-1].append(m)
    return turns


def thinking_of(content: Any) -> str:
    """The text inside the message's think block(s), without the tags."""
    if not isinstance(content, str):
        return ""
    parts = []
    for m in THINK_RE.finditer(content):
        block = m.group(0)
        block = block[len("<think>"):]
        if block.endswith("</think>"):
            block = block[: -len("</think>")]
        parts.append(block.strip())
    if not parts and "</think>" in content:  # a template that pre-fills <think>
        parts.append(content.split("</think>", 1)[0].strip())
    return "\n".join(parts)


def rendered_calls(tool_calls: Any) -> list[dict[str, Any]]:
    """Tool calls as the labeller's prompt shows them: name and arguments (parsed when they are JSON text)."""
    out = []
    for tc in tool_calls or []:
        if not isinstance(tc, dict):
            continue
        fn = tc.get("function") if isinstance(tc.get("function"), dict) else tc
        args = fn.get("arguments")
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except (ValueError, RecursionError):
                pass
        out.append({"name": fn.get("name"), "arguments": args})
    return out


def part_texts(message: dict[str, Any], part: str) -> list[str]:
    """The texts of ``part`` of ``message`` a snippet may be quoted from."""
    content = message.get("content")
    if part in ("user.content", "tool.content"):
        return [content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)]
    if part == "assistant.content.thinking":
        return [thinking_of(content)]
    if part == "assistant.content.user_visible_reply":
        return [strip_think(content) if isinstance(content, str) else ""]
    if part == "assistant.tool_calls":
        calls = message.get("tool_calls") or []
        shown = rendered_calls(calls)
        texts = [json.dumps(calls), json.dumps(calls, ensure_ascii=False),
                 json.dumps(shown, ensure_ascii=False), json.dumps(shown)]
        for c in shown:
            args = c["arguments"]
            texts.append(f"{c['name']}({json.dumps(args, ensure_ascii=False)})")
        return texts
    return []


_WS = re.compile(r"\s+")


def _norm(text: str) -> str:
    text = text.replace('\\"', '"').replace("\\n", " ").replace("\\'", "'")
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return _WS.sub(" ", text).strip().casefold()


def snippet_occurs(snippet: str, texts: list[str]) -> bool:
    if any(snippet in t for t in texts):
        return True
    n = _norm(snippet)
    return bool(n) and any(n in _norm(t) for t in texts)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _short(text: Any, n: int = 80) -> str:
    s = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=str)
    return json.dumps(s if len(s) <= n else s[:n] + "...", ensure_ascii=False)


def validate_checklists(checklists: Any, messages: list[dict[str, Any]], *, weight_tol: float = 1e-6,
                        dependence_tool_content_only: bool = True) -> list[str]:
    """Every problem of one variant's checklists (``[turn][item]``) for ``messages``; [] when valid."""
    turns = conversation_turns(messages)
    errors: list[str] = []
    if not isinstance(checklists, list):
        return [f"turn_count: the checklists must be a list of per-turn checklists, got {type(checklists).__name__}"]
    if len(checklists) != len(turns):
        errors.append(f"turn_count: {len(checklists)} checklist(s) for {len(turns)} user turn(s): give exactly one "
                      f"checklist per user message")
    for t, items in enumerate(checklists):
        where = f"turn {t}"
        if not isinstance(items, list):
            errors.append(f"item: {where}: the checklist must be a list of items")
            continue
        if not items:
            errors.append(f"item: {where}: the checklist is empty (each user turn needs at least one item)")
            continue
        errors += _turn_errors(t, items, turns, weight_tol, dependence_tool_content_only)
    return errors


def _turn_errors(t: int, items: list[Any], turns: list[list[dict[str, Any]]], weight_tol: float,
                 dep_tool_only: bool) -> list[str]:
    errors: list[str] = []
    ids: dict[str, int] = {}
    focus: dict[str, Any] = {}
    for j, it in enumerate(items):
        if not isinstance(it, dict):
            errors.append(f"item: turn {t} item {j}: an item must be an object")
            continue
        iid = it.get("id")
        if not isinstance(iid, str) or not iid.strip():
            errors.append(f"item: turn {t} item {j}: id must be a non-empty string")
        elif iid in ids:
            errors.append(f"item: turn {t}: id {iid!r} is used by items {ids[iid]} and {j}")
        else:
            ids[iid] = j
            focus[iid] = it.get("focus_on")
    for j, it in enumerate(items):
        if isinstance(it, dict):
            errors += _item_errors(t, j, it, turns)
    # dependence
    for j, it in enumerate(items):
        if not isinstance(it, dict):
            continue
        deps = it.get("dependence", [])
        label = f"turn {t} item {it.get('id', j)}"
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            errors.append(f"dependence: {label}: dependence must be a list of item ids")
            continue
        for d in deps:
            if d == it.get("id"):
                errors.append(f"dependence: {label}: an item cannot depend on itself")
            elif d not in ids:
                errors.append(f"dependence: {label}: depends on {d!r}, which is not an item of turn {t} "
                              f"(items: {', '.join(ids)})")
            elif dep_tool_only and focus.get(d) != "tool.content":
                errors.append(f"dependence: {label}: depends on {d!r}, whose focus_on is {focus.get(d)!r}; only "
                              f"items with focus_on 'tool.content' may be depended on")
    pairs = [(it.get("id"), it.get("dependence")) if isinstance(it, dict) else (None, None) for it in items]
    for _, msg in dependence_cycles(pairs):
        errors.append(f"dependence: turn {t}: {msg}")
    # weights
    weights = [it.get("weight") if isinstance(it, dict) else None for it in items]
    bad = False
    for j, w in enumerate(weights):
        if not _is_num(w) or not math.isfinite(w) or not 0 <= w <= 1:
            errors.append(f"weights: turn {t} item {j}: weight must be a number in [0, 1], got {_short(w, 30)}")
            bad = True
    if not bad:
        s = math.fsum(weights)
        if abs(s - 1.0) > weight_tol:
            errors.append(f"weights: turn {t}: the weights sum to {s:.6g}, not 1 (they must sum to 1 per turn)")
    return errors


def _item_errors(t: int, j: int, it: dict[str, Any], turns: list[list[dict[str, Any]]]) -> list[str]:
    label = f"turn {t} item {it.get('id', j)}"
    errors: list[str] = []
    missing = [k for k in ITEM_FIELDS if k not in it]
    if missing:
        errors.append(f"item: {label}: missing field(s) {', '.join(missing)}")
    extra = sorted(set(it) - ALLOWED_FIELDS)
    if extra:
        errors.append(f"item: {label}: unknown field(s) {', '.join(extra)}")
    for k in ("question", "pass_condition"):
        if k in it and (not isinstance(it[k], str) or not it[k].strip()):
            errors.append(f"item: {label}: {k} must be a non-empty string")
    fe = it.get("failure_examples", [])
    if not isinstance(fe, list) or not all(isinstance(x, str) for x in fe):
        errors.append(f"item: {label}: failure_examples must be a list of strings")
    if "required_for_next_turn" in it and not isinstance(it["required_for_next_turn"], bool):
        errors.append(f"item: {label}: required_for_next_turn must be true or false")
    if "focus_on" in it and it["focus_on"] not in FOCUS_ON:
        errors.append(f"enum: {label}: focus_on {_short(it['focus_on'], 40)} is not one of {', '.join(FOCUS_ON)}")
    ev = it.get("evidence")
    if "evidence" in it and not isinstance(ev, list):
        errors.append(f"item: {label}: evidence must be a list")
        return errors
    if not ev:
        errors.append(f"evidence_missing: {label}: the item cites no evidence (quote at least one snippet of the "
                      f"reference that satisfies it)")
        return errors
    for k, e in enumerate(ev):
        errors += _evidence_errors(t, label, k, e, turns)
    return errors


def _evidence_errors(t: int, label: str, k: int, e: Any, turns: list[list[dict[str, Any]]]) -> list[str]:
    where = f"{label} evidence {k}"
    if not isinstance(e, dict):
        return [f"item: {where}: evidence must be an object {{turn, step, from, snippet}}"]
    missing = [f for f in ("turn", "step", "from", "snippet") if f not in e]
    if missing:
        return [f"item: {where}: missing field(s) {', '.join(missing)}"]
    et, es, part, snippet = e["turn"], e["step"], e["from"], e["snippet"]
    if not _is_int(et) or et < 0 or not _is_int(es) or es < 0:
        return [f"evidence_pointer: {where}: turn and step must be non-negative integers"]
    if part not in EVIDENCE_FROM:
        return [f"enum: {where}: from {_short(part, 40)} is not one of {', '.join(EVIDENCE_FROM)}"]
    if not isinstance(snippet, str) or not snippet.strip():
        return [f"evidence_missing: {where}: the snippet is empty"]
    if et >= len(turns):
        return [f"evidence_pointer: {where}: turn {et} does not exist (the conversation has {len(turns)} turn(s))"]
    if et > t:
        return [f"evidence_pointer: {where}: cites turn {et}, later than the item's own turn {t}"]
    if es >= len(turns[et]):
        return [f"evidence_pointer: {where}: turn {et} has no step {es} (it has steps 0..{len(turns[et]) - 1})"]
    msg = turns[et][es]
    want = _ROLE_OF.get(part, "assistant")
    if msg.get("role") != want:
        return [f"evidence_pointer: {where}: turn {et} step {es} is a {msg.get('role')} message, but from {part!r} "
                f"needs a {want} message"]
    if not snippet_occurs(snippet, part_texts(msg, part)):
        return [f"evidence_not_found: {where}: the snippet {_short(snippet)} does not occur in {part} of turn {et} "
                f"step {es} (quote it verbatim)"]
    return []


def validate_record(record: dict[str, Any], **kw: Any) -> dict[int, list[str]]:
    """Errors of each checklist variant of a labelled record (``{variant: errors}``, only variants with errors)."""
    out: dict[int, list[str]] = {}
    variants = record.get("checklists")
    if not isinstance(variants, list) or not variants:
        return {0: ["turn_count: the record has no checklists"]}
    for v, cl in enumerate(variants):
        errs = validate_checklists(cl, record.get("messages") or [], **kw)
        if errs:
            out[v] = errs
    return out
