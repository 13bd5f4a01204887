"""Import (and export) the CM2 authors' labelled format: ``{uuid, messages, tools, checklists[variant][turn][item]}``.

Nothing is dropped: every checklist variant is kept (``Task.checklist_variants``; the chosen one is also the
task's active checklist), item ``extra_info`` is kept, and the messages become the reference as they are.
"""

from __future__ import annotations

from typing import Any

from .models import Task


def is_cm2_record(obj: Any) -> bool:
    return isinstance(obj, dict) and {"messages", "tools", "checklists"} <= obj.keys() and "turns" not in obj


def from_cm2(record: dict[str, Any], variant: int = 0, domain: str = "cm2") -> Task:
    """One CM2 record → one :class:`Task`; ``variant`` selects the active checklist."""
    messages = [dict(m) for m in record["messages"]]
    system_prompt = ""
    if messages and messages[0].get("role") == "system":
        system_prompt = messages.pop(0).get("content") or ""
    users = [m.get("content") or "" for m in messages if m.get("role") == "user"]
    variants = record.get("checklists") or [[[] for _ in users]]
    if not 0 <= variant < len(variants):
        raise ValueError(f"record {record.get('uuid')!r} has {len(variants)} checklist variant(s), asked for {variant}")
    active = variants[variant]
    turns = [{"user": u, "checklist": active[i] if i < len(active) else []} for i, u in enumerate(users)]
    extra = {k: v for k, v in record.items() if k not in {"uuid", "messages", "tools", "checklists"}}
    return Task.model_validate(
        {
            "id": str(record.get("uuid") or record.get("id")),
            "domain": domain,
            "system_prompt": system_prompt,
            "tools": record["tools"],
            "turns": turns,
            "reference": messages,
            "checklist_variants": variants,
            "metadata": {"source": "cm2", "uuid": record.get("uuid"), "checklist_variant": variant, **extra},
        }
    )


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
            [[it.model_dump(by_alias=True, exclude_none=True, exclude_defaults=False) for it in turn] for turn in v]
            for v in variants
        ],
        **extra,
    }
