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
