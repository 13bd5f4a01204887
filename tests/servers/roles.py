"""Request-dependent scripted answers for the LLM roles (judge, tool simulator, user), for the scripted server.

The scripted judge is deterministic and reads the prompt like a (very literal) judge would: an item passes iff
every double-quoted string in its pass condition (or question, if the condition quotes nothing) occurs in the
judged turn's transcript, case-insensitively; an item quoting nothing passes iff the turn has a user-visible
reply. It answers in the batched or per-item format, whichever the prompt asks for.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .scripted import last_user_text

_QUOTED = re.compile(r'"([^"]+)"')


def parse_judge_prompt(text: str) -> tuple[str, list[dict[str, str]]]:
    turn = text.split("## Current turn (judge this)\n", 1)[1].split("\n\n## Checklist item", 1)[0]
    items_text = text.split("\n\n## Checklist item", 1)[1]
    items: list[dict[str, str]] = []
    for line in items_text.splitlines():
        if line.startswith("Item "):
            items.append({"id": line[5:].strip()})
        elif items and line.startswith("- ") and ": " in line:
            key, _, value = line[2:].partition(": ")
            items[-1][key.lower()] = value
    return turn, items


def decide(turn: str, item: dict[str, str]) -> tuple[bool, str]:
    quoted = _QUOTED.findall(item.get("pass condition", "")) or _QUOTED.findall(item.get("question", ""))
    if quoted:
        missing = [q for q in quoted if q.lower() not in turn.lower()]
        return (not missing), ("all required text present" if not missing else f"missing {missing}")
    ok = "reply (user-visible)" in turn
    return ok, "the turn has a visible reply" if ok else "no visible reply"


def judge_answer(body: dict[str, Any]) -> str:
    text = last_user_text(body)
    turn, items = parse_judge_prompt(text)
    verdicts = {}
    for it in items:
        ok, why = decide(turn, it)
        step = None
        if ok:
            m = re.findall(r"\[step (\d+)\] ASSISTANT", turn)
            step = int(m[-1]) if m else None
        verdicts[it["id"]] = {"rationale": why, "step": step, "answer": ok}
    if '{"verdicts"' in text:
        return json.dumps({"verdicts": verdicts})
    return json.dumps(next(iter(verdicts.values())))


def simulator_answer(body: dict[str, Any]) -> str:
    text = last_user_text(body)
    call_line = text.split("## Call to answer\n", 1)[1].splitlines()[0]
    return json.dumps({"result": {"simulated": call_line, "status": "ok"}})


def user_answer(body: dict[str, Any]) -> str:
    """Follows the reference guidance verbatim, then stops."""
    text = last_user_text(body)
    m = re.search(r"\(guidance for it: #(\d+)\)", text)
    if not m:
        return json.dumps({"message": "", "done": True})
    k = int(m.group(1))
    guide = re.search(rf"^{k}\. (.*)$", text, re.M)
    return json.dumps({"message": guide.group(1) if guide else "", "done": guide is None})


def role_router(body: dict[str, Any]) -> str:
    """One server for all roles: dispatch on the prompt."""
    text = last_user_text(body)
    if "## Current turn (judge this)" in text:
        return judge_answer(body)
    if "## Call to answer" in text:
        return simulator_answer(body)
    return user_answer(body)


# --------------------------------------------------------------------------- data-pipeline roles (cm2 data)
# Deterministic, valid answers to the prompts of `cm2 data label`, `llm-filter` and `compress-cot`, so the
# offline chain runs against this server. They read the JSON the prompts carry after their headings.

LABEL_MARKER = "## Conversation to label"
FILTER_MARKER = "## Conversation under review"
COMPRESS_MARKER = "## Thinking sections to compress"
FLAW_MARKER = "FLAWED"
"""A conversation containing this text is judged flawed by the scripted llm-filter."""


def _prompt_with(body: dict[str, Any], marker: str) -> str:
    """The user message carrying ``marker`` (a re-ask appends messages after it)."""
    for m in body.get("messages", []):
        if m.get("role") == "user" and marker in (m.get("content") or ""):
            return m["content"]
    return ""


def _json_after(text: str, marker: str) -> Any:
    block = text.split(marker, 1)[1]
    block = block.split("\n", 1)[1] if "\n" in block else ""
    return json.loads(block.split("\n\n## ", 1)[0])


def _weights(n: int) -> list[float]:
    w = [round(1.0 / n, 6)] * n
    w[-1] = round(1.0 - sum(w[:-1]), 6)
    return w


def label_answer(body: dict[str, Any]) -> str:
    """A valid checklist per turn: one item per first tool call of an assistant step (name and first argument
    pinned in the pass condition, so derive-checks can turn it into a check), one per tool result, one for
    the final reply (depending on the tool results); evidence quoted from the conversation."""
    steps = _json_after(_prompt_with(body, LABEL_MARKER), LABEL_MARKER)
    turns: dict[int, list[dict[str, Any]]] = {}
    for e in steps:
        turns.setdefault(e["turn"], []).append(e)
    out = []
    for t in sorted(turns):
        items: list[dict[str, Any]] = []

        def add(focus: str, step: int, part: str, snippet: str, question: str, cond: str, deps=()) -> str:
            iid = f"C{len(items)}"
            items.append({"id": iid, "question": question, "pass_condition": cond, "focus_on": focus,
                          "evidence": [{"turn": t, "step": step, "from": part, "snippet": snippet}],
                          "failure_examples": ["not observed"], "required_for_next_turn": focus != "tool.content",
                          "dependence": list(deps), "weight": 0.0})
            return iid

        tool_items = []
        last_reply = None
        for e in turns[t]:
            if e["role"] == "assistant":
                calls = e.get("tool_calls") or []
                if calls:
                    c = calls[0]
                    args = c.get("arguments") if isinstance(c.get("arguments"), dict) else {}
                    cond = f"There exists an assistant tool call with name={c['name']}"
                    if args:
                        k, v = next(iter(args.items()))
                        cond += f" and arguments.{k} == {json.dumps(v)}"
                    add("assistant.tool_calls", e["step"], "assistant.tool_calls", f'"name": "{c["name"]}"',
                        f"Did the assistant call {c['name']} as required?", cond + ".")
                if (e.get("reply") or "").strip():
                    last_reply = e
            elif e["role"] == "tool" and isinstance(e.get("content"), str) and e["content"].strip():
                tool_items.append(add("tool.content", e["step"], "tool.content", e["content"].strip()[:40],
                                      "Did the assistant obtain the tool's result?",
                                      "A tool result with the needed information is present."))
        if last_reply is not None:
            add("assistant.content.user_visible_reply", last_reply["step"], "assistant.content.user_visible_reply",
                last_reply["reply"].strip()[:60], "Does the final reply answer the user's request?",
                "The final reply addresses the request using the information obtained.", tool_items)
        if not items:
            user = next((e for e in turns[t] if e["role"] == "user"), {"step": 0, "content": ""})
            add("assistant.content.user_visible_reply", 0, "user.content", (user.get("content") or "")[:40],
                "Does the assistant reply to the user?", "The assistant replies to the user.")
        for it, w in zip(items, _weights(len(items))):
            it["weight"] = w
        out.append({"turn": t, "checklist": items})
    return json.dumps({"turns": out})


def filter_answer(body: dict[str, Any]) -> str:
    text = _prompt_with(body, FILTER_MARKER)
    flawed = FLAW_MARKER in text.split(FILTER_MARKER, 1)[1]
    return json.dumps({"reason": "the conversation is marked flawed" if flawed else "no problem found",
                       "no_error": not flawed})


def compress_answer(body: dict[str, Any]) -> str:
    """Each thinking section cut to its first sentence (never longer than the original)."""
    secs = _json_after(_prompt_with(body, COMPRESS_MARKER), COMPRESS_MARKER)
    out = []
    for s in secs:
        text = (s.get("thinking") or "").strip() or "Reply."
        first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
        out.append(first if len(first) <= len(text) else text)
    return json.dumps({"thinking": out})


def data_role_answer(body: dict[str, Any]) -> str | None:
    """The answer to a `cm2 data` stage prompt, or None when the request is not one."""
    if _prompt_with(body, COMPRESS_MARKER):
        return compress_answer(body)
    if _prompt_with(body, LABEL_MARKER):
        return label_answer(body)
    if _prompt_with(body, FILTER_MARKER):
        return filter_answer(body)
    return None


_role_router_base = role_router


def role_router(body: dict[str, Any]) -> str:  # noqa: F811 - the data roles added in front of the env roles
    """One server for all roles: the data-pipeline roles, then the env roles (judge, simulator, user)."""
    answer = data_role_answer(body)
    return answer if answer is not None else _role_router_base(body)
