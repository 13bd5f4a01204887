"""BFCL v4 multi-turn test entries → cm2 :class:`~cm2_env.tasks.models.Task` objects.

* **Tools**: the function docs of the entry's ``involved_classes`` (bfcl-eval's ``multi_turn_func_doc``), in
  bfcl-eval's order, converted to OpenAI tools (:mod:`.schema`).
* **User turns**: each turn's question is the scripted user message of that turn.
* **miss_func**: bfcl-eval holds some functions out and reveals them at a later turn whose question is empty;
  it then sends ``"I have updated some more functions you can choose from. What about now?"``. We keep the
  held-out functions in ``task.tools`` (so the task validates and checklists may name them) and declare
  ``metadata["tools_available_from_turn"] = {name: turn}``: the env must hide them from the agent's tool list
  and reject calls to them before that turn (the BFCL tool session enforces the latter too, when told the turn).
  The reveal turn's scripted user message is bfcl-eval's prompt above. bfcl-eval never checks availability,
  and one entry's own ground truth (miss_func_49: ``tail``) calls a held-out function before its reveal turn;
  such a function is made available from its first ground-truth use (``metadata.bfcl.reveal_patches``).
* **miss_param**: the turn lacking a parameter has an empty ground truth; its reference reply asks for it and
  its checklist asks for no call (see :mod:`.checklist`).
* **long_context**: ``metadata.bfcl.long_context`` makes the executor load the classes in long-context mode.
* **Reference**: per turn the user message, then one assistant message per ground-truth call, each followed by
  the tool message holding the result of *really executing* that call on fresh instances (in order, state
  carried across turns), then a short final assistant reply. A turn with more calls than fit in bfcl-eval's
  20-step limit (two long_context turns have 34) puts consecutive calls to the same function in one message.
* **Schemas**: where a ground-truth call violates its own doc (``close_ticket(ticket_id='ticket_001')`` vs an
  integer id), that task's schema is widened to admit it (``metadata.bfcl.schema_patches``).
* ``metadata["bfcl"]`` keeps the original entry (id, ground-truth strings, initial config, ...) for the
  official checker.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Iterable

from jsonschema import Draft202012Validator

from ...tasks.models import Message, Task, Turn
from . import _bfcl
from .calls import bind_arguments, parse_call
from .checklist import turn_checklist
from .executor import BFCLInstances
from .schema import bfcl_doc_to_tool

MAX_CALL_MESSAGES = 19
"""Assistant messages with calls allowed in one reference turn (bfcl-eval's 20 steps minus the final reply)."""
DONE_REPLY = "I have completed the requested operations."
EMPTY_TURN_REPLY = {
    "miss_param": "I need more information to do this. Could you please provide the missing details?",
    "miss_func": "I can't do that with the functions currently available to me.",
}
DEFAULT_EMPTY_TURN_REPLY = "I can't complete this request with the functions and information available to me."


_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"), (dict, "object"),
)
"""Python type → JSON Schema type, bool before int (a bool is an int in Python, not in JSON)."""


def _json_type(value: Any) -> str:
    return next((name for py, name in _JSON_TYPES if isinstance(value, py)), "null")


def widen_for_ground_truth(params: dict[str, Any], args: dict[str, Any]) -> list[dict[str, Any]]:
    """Widen ``type`` where a ground-truth call violates the doc's schema (in place); returns the patches.

    bfcl-eval does not validate arguments, and a few ground-truth calls disagree with their own docs (e.g.
    ``close_ticket(ticket_id='ticket_001')`` where the doc says integer, and the ticket ids in the initial
    config are strings). Our env validates first, so the schema of that task is widened to admit the value.
    """
    patches: list[dict[str, Any]] = []
    for _ in range(16):
        errors = [e for e in Draft202012Validator(params).iter_errors(args)]
        if not errors:
            return patches
        err = errors[0]
        if err.validator != "type":
            raise ValueError(f"ground-truth arguments {args} violate the schema: {err.message}")
        node = params
        for part in err.absolute_schema_path:
            if part == "type":
                break
            node = node[part]
        old = node["type"]
        node["type"] = sorted({*(old if isinstance(old, list) else [old]), _json_type(err.instance)})
        patches.append({"path": "/".join(map(str, err.absolute_path)), "from": old, "to": node["type"]})
    raise ValueError(f"cannot make the schema admit ground-truth arguments {args}")


def _message_groups(names: list[str], budget: int = MAX_CALL_MESSAGES) -> list[int]:
    """Sizes of the reference's assistant messages for a turn's calls: one call per message, unless the turn
    has more calls than ``budget`` messages (bfcl-eval allows 20 steps per turn, and the final reply needs one):
    then runs of consecutive calls to the same function share a message (parallel calls), and if that is
    still too many, the calls are spread evenly over ``budget`` messages."""
    if len(names) <= budget:
        return [1] * len(names)
    runs = [len(list(g)) for _, g in itertools.groupby(names)]
    if len(runs) <= budget:
        return runs
    base, extra = divmod(len(names), budget)
    return [base + (1 if i < extra else 0) for i in range(budget)]


def _user_text(messages: list[dict[str, Any]]) -> str:
    texts = [m.get("content") or "" for m in messages if m.get("role") == "user"]
    return "\n\n".join(t for t in texts if t)


def entry_to_task(entry: dict[str, Any], answer: dict[str, Any], category: str, *, outcome_weight: float = 0.6) -> Task:
    """Convert one bfcl-eval test entry and its possible answer into a cm2 task."""
    entry_id = entry["id"]
    involved = list(entry["involved_classes"])
    docs = [doc for cls in involved for doc in _bfcl.func_docs(cls)]
    tools = [bfcl_doc_to_tool(d) for d in docs]
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools}
    missed: dict[str, list[str]] = entry.get("missed_function") or {}
    available_from = {name: int(turn) for turn, names in missed.items() for name in names}
    ground_truth: list[list[str]] = answer["ground_truth"]
    reveal_patches: list[dict[str, Any]] = []
    for t, gt_turn in enumerate(ground_truth):  # bfcl-eval never checks availability; its own ground truth
        for text in gt_turn:                     # once calls a held-out function before revealing it
            name = parse_call(text).name
            if name in available_from and t < available_from[name]:
                reveal_patches.append({"tool": name, "declared_turn": available_from[name], "used_turn": t})
                available_from[name] = t

    long_context = "long_context" in category
    instances = BFCLInstances(involved, entry.get("initial_config", {}), long_context=long_context)
    if len(ground_truth) != len(entry["question"]):
        raise ValueError(f"{entry_id}: {len(entry['question'])} question turns but {len(ground_truth)} answer turns")

    schema_patches: list[dict[str, Any]] = []
    turns: list[Turn] = []
    reference: list[Message] = []
    for t, (question, gt_calls) in enumerate(zip(entry["question"], ground_truth)):
        if str(t) in missed:
            if question:
                raise ValueError(f"{entry_id}: held-out functions revealed at turn {t}, which has a question")
            user = _bfcl.additional_function_prompt()
        else:
            user = _user_text(question)
            if not user:
                raise ValueError(f"{entry_id}: turn {t} has no user message")
        reference.append(Message(role="user", content=user))

        calls: list[tuple[str, dict[str, Any]]] = []
        results: list[str] = []
        for text in gt_calls:
            parsed = parse_call(text)
            method = instances.method(parsed.name)
            if method is None:
                raise ValueError(f"{entry_id}: ground-truth call {text!r} names no method of {involved}")
            args = bind_arguments(parsed, method)
            for patch in widen_for_ground_truth(schemas[parsed.name], args):
                schema_patches.append({"tool": parsed.name, **patch})
            results.append(instances.execute(parsed.name, args).content)
            calls.append((parsed.name, args))
        steps: list[int] = []
        step = 1
        k = 0
        for group in _message_groups([name for name, _ in calls]):
            tool_calls = []
            for _ in range(group):
                name, args = calls[k]
                tool_calls.append({"id": f"call_{t}_{k}", "type": "function",
                                   "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)}})
                steps.append(step)
                k += 1
            reference.append(Message(role="assistant", content="", tool_calls=tool_calls))
            for tc in tool_calls:
                i = int(tc["id"].rsplit("_", 1)[1])
                reference.append(Message(role="tool", content=results[i], tool_call_id=tc["id"], name=calls[i][0]))
            step += 1 + group
        reply = DONE_REPLY if calls else EMPTY_TURN_REPLY.get(category, DEFAULT_EMPTY_TURN_REPLY)
        reference.append(Message(role="assistant", content=reply))
        turns.append(Turn(user=user, checklist=turn_checklist(t, calls, schemas, steps=steps, outcome_weight=outcome_weight)))

    metadata: dict[str, Any] = {
        "source": "bfcl",
        "benchmark": "bfcl_multi_turn",
        "category": category,
        "bfcl": {
            "id": entry_id,
            "category": f"multi_turn_{category}",
            "involved_classes": involved,
            "initial_config": entry.get("initial_config", {}),
            "ground_truth": ground_truth,
            "missed_function": missed,
            "excluded_function": entry.get("excluded_function", []),
            "path": entry.get("path", []),
            "long_context": long_context,
            "schema_patches": schema_patches,
            "reveal_patches": reveal_patches,
            "bfcl_eval_version": _bfcl.bfcl_version(),
        },
    }
    if available_from:
        metadata["tools_available_from_turn"] = available_from
    return Task(
        id=entry_id,
        domain="bfcl/" + "+".join(sorted(involved)),
        system_prompt="",
        tools=tools,
        turns=turns,
        reference=reference,
        metadata=metadata,
    )


def load_category(
    category: str,
    *,
    limit: int | None = None,
    ids: Iterable[str] | None = None,
    outcome_weight: float = 0.6,
) -> list[Task]:
    """All (or the first ``limit`` / the given ``ids``) tasks of a BFCL multi-turn category.

    ``category`` is one of ``base``, ``miss_func``, ``miss_param``, ``long_context`` (a ``multi_turn_`` prefix
    is accepted).
    """
    category = category.removeprefix("multi_turn_")
    wanted = set(ids) if ids is not None else None
    tasks: list[Task] = []
    for entry, answer in _bfcl.category_entries(category):
        if wanted is not None and entry["id"] not in wanted:
            continue
        tasks.append(entry_to_task(entry, answer, category, outcome_weight=outcome_weight))
        if limit is not None and len(tasks) >= limit:
            break
    return tasks


def category_size(category: str) -> int:
    return len(_bfcl.category_entries(category.removeprefix("multi_turn_")))
