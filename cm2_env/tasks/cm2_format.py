"""Import (and export) the CM2 authors' labelled format: ``{uuid, messages, tools, checklists[variant][turn][item]}``.

Nothing is dropped: every checklist variant is kept (``Task.checklist_variants``; the chosen one is also the
task's active checklist), item ``extra_info`` is kept, and the messages become the reference as they are.

Every variant must hold one checklist per user message (the task validator and the loader refuse a record
whose variant has more or fewer turns than the record has user messages). The loader validates a record
through :func:`cm2_task_dict` (the unvalidated task it becomes) and maps each error back into the record with
:func:`record_path`, so an error reads ``$[0].checklists[0][1][0].weight``, not a path into the converted task.
"""

from __future__ import annotations

from typing import Any

from .models import Task

RECORD_KEYS = frozenset({"uuid", "messages", "tools", "checklists"})


def is_cm2_record(obj: Any) -> bool:
    return isinstance(obj, dict) and {"messages", "tools", "checklists"} <= obj.keys() and "turns" not in obj


def shape_errors(record: dict[str, Any]) -> list[tuple[tuple, str]]:
    """Problems that keep a record from being converted at all: ``(path in the record, message)``."""
    out: list[tuple[tuple, str]] = []
    messages = record.get("messages")
    if not isinstance(messages, list):
        out.append((("messages",), "messages must be a list of chat messages"))
    else:
        out.extend(((("messages", j), "a message must be an object") for j, m in enumerate(messages)
                    if not isinstance(m, dict)))
    checklists = record.get("checklists")
    if checklists is not None and not isinstance(checklists, list):
        out.append((("checklists",), "checklists must be a list of variants, each a list of turn checklists"))
    elif isinstance(checklists, list):
        for v, variant in enumerate(checklists):
            if not isinstance(variant, list):
                out.append((("checklists", v), "a checklist variant must be a list of turn checklists"))
                continue
            out.extend(((("checklists", v, t), "a turn checklist must be a list of items")
                        for t, turn in enumerate(variant) if not isinstance(turn, list)))
    return out


def _user_indices(messages: list[dict[str, Any]]) -> list[int]:
    return [j for j, m in enumerate(messages) if m.get("role") == "user"]


def cm2_task_dict(record: dict[str, Any], variant: int = 0, domain: str = "cm2") -> dict[str, Any]:
    """One CM2 record → the (unvalidated) task document it becomes; ``variant`` selects the active checklist.

    Raises ``ValueError`` when ``variant`` does not exist. A record with :func:`shape_errors` is not converted.
    """
    problems = shape_errors(record)
    if problems:
        raise ValueError(f"record {record.get('uuid')!r} is not a CM2 record: {problems[0][1]}")
    messages = [dict(m) for m in record["messages"]]
    system_prompt = ""
    if messages and messages[0].get("role") == "system":
        system_prompt = messages.pop(0).get("content") or ""
    users = [messages[j].get("content") or "" for j in _user_indices(messages)]
    variants = record.get("checklists") or [[[] for _ in users]]
    if not 0 <= variant < len(variants):
        raise ValueError(f"record {record.get('uuid')!r} has {len(variants)} checklist variant(s), asked for {variant}")
    active = variants[variant]
    turns = [{"user": u, "checklist": active[i] if i < len(active) else []} for i, u in enumerate(users)]
    extra = {k: v for k, v in record.items() if k not in RECORD_KEYS}
    return {
        "id": str(record.get("uuid") or record.get("id")),
        "domain": domain,
        "system_prompt": system_prompt,
        "tools": record["tools"],
        "turns": turns,
        "reference": messages,
        "checklist_variants": variants,
        "metadata": {"source": "cm2", "uuid": record.get("uuid"), "checklist_variant": variant, **extra},
    }


def from_cm2(record: dict[str, Any], variant: int = 0, domain: str = "cm2") -> Task:
    """One CM2 record → one :class:`Task`; ``variant`` selects the active checklist."""
    return Task.model_validate(cm2_task_dict(record, variant, domain))


def record_path(record: dict[str, Any], task_path: tuple, variant: int = 0) -> tuple:
    """Where in ``record`` the value at ``task_path`` (a path into :func:`cm2_task_dict`'s result) comes from."""
    messages = record.get("messages") if isinstance(record.get("messages"), list) else []
    offset = 1 if messages and isinstance(messages[0], dict) and messages[0].get("role") == "system" else 0
    head, rest = (task_path[0], task_path[1:]) if task_path else (None, ())
    if head in ("tools", "checklist_variants"):
        return ("tools" if head == "tools" else "checklists", *rest)
    if head == "reference":
        if rest and isinstance(rest[0], int):
            return ("messages", rest[0] + offset, *rest[1:])
        return ("messages",)
    if head == "system_prompt":
        return ("messages", 0, "content") if offset else ("messages",)
    if head == "id":
        return ("uuid",) if "uuid" in record else ("id",) if "id" in record else ()
    if head == "turns":
        if not rest or not isinstance(rest[0], int):
            return ("messages",)
        t, sub = rest[0], rest[1:]
        users = _user_indices([m for m in messages[offset:] if isinstance(m, dict)])
        if sub[:1] == ("checklist",):
            return ("checklists", variant, t, *sub[1:])
        if sub[:1] == ("user",) and t < len(users):
            return ("messages", users[t] + offset, "content")
        return ("checklists", variant, t)
    if head == "metadata" and rest and rest[0] not in ("source", "checklist_variant"):
        return tuple(rest)
    return ()


def to_cm2(task: Task) -> dict[str, Any]:
    """The inverse of :func:`from_cm2` (round-trips the fields CM2 has)."""
    variants = task.checklist_variants or [[t.checklist for t in task.turns]]
    messages = [m.model_dump(exclude_none=True) for m in task.reference or []]
    if task.system_prompt:
        messages.insert(0, {"role": "system", "content": task.system_prompt})
    extra = {k: v for k, v in task.metadata.items() if k not in {"source", "uuid", "checklist_variant"}}
    return {
        "uuid": task.metadata.get("uuid", task.id),
        "messages": messages,
        "tools": task.tools,
        "checklists": [
            [[_cm2_item(it) for it in turn] for turn in v]
            for v in variants
        ],
        **extra,
    }


# cm2-env's own item fields, written only when set, so a CM2 record round-trips unchanged
_EXTENSION_DEFAULTS = {"veto": False}


def _cm2_item(item: Any) -> dict[str, Any]:
    out = item.model_dump(by_alias=True, exclude_none=True, exclude_defaults=False)
    for key, default in _EXTENSION_DEFAULTS.items():
        if out.get(key) == default:
            out.pop(key)
    return out
