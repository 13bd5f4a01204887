"""Build the bundled ``starter`` suite from its YAML sources: ``python scripts/starter_suite/build.py``.

Every task is written by hand, one YAML file per domain beside this script (``<domain>.yaml``); this script
only removes the boilerplate of the task-file format and writes ``cm2_env/tasks/suites/starter/<domain>.json``.

Layout of a domain file::

    domain: travel
    system_prompt: You are ...                # shared by the domain's tasks (a task may give its own)
    tools:                                    # the domain's tool table: name -> description + JSON Schema
      search_flights:
        description: Search one-way flights ...
        parameters: {type: object, properties: {...}, required: [...], additionalProperties: false}
    tasks:
    - id: travel-001
      title: Book the cheapest nonstop, then a hotel
      tags: [error_recovery]                  # optional; parallel_calls / no_tool_turn / three_plus_turns are derived
      tools: [search_flights, book_flight]    # names from the table, in the order the task offers them
      turns:
      - user: Hi! I need to get from ...
        reference:                            # the assistant messages of the reference, in order
        - think: Search first, then book.     # optional reasoning, written as <think>...</think>
          text: ...                           # optional text beside the calls
          calls:                              # one message; several calls = parallel calls
          - {name: search_flights, args: {...}, result: {...}}
        - reply: Done! ...                    # a message without calls; the turn ends with one
        checklist:
        - id: C0                              # optional; must be C<position> when given
          check: {type: tool_called, name: search_flights, args: {origin: {equals: SFO}}}   # task-file format
          weight: 2                           # relative; a turn's weights are normalised to sum to 1
          required_for_next_turn: true
          dependence: [C1]                    # ids of other items of the same turn
        - question: Does the reply ...?       # an LLM-judged item: no check, question and pass_condition needed
          pass_condition: ...
          focus_on: assistant.content.thinking      # optional, default assistant.content.user_visible_reply
          evidence_snippet: 23A               # optional: text searched in the turn to point the evidence at
          failure_examples: [...]
          weight: 1

What this script adds: tool-call ids (``call_1``, ``call_2``, ... per task) and the tool messages paired with
them; each item's ``evidence`` (a verbatim pointer into the reference), ``focus_on`` of check items, the default
question / pass condition / failure examples of check items (authored ones win; authored failure examples of a
check item get the first default one appended; a judge item's are padded to two); normalised weights; and the
derived tags. Before anything is written it verifies every task: each call's arguments conform to the tool's
JSON Schema (the env validates before replay); identical calls (same name and canonical arguments) have
identical recorded results (the offline simulator replays by canonical arguments); and the reference passes
every programmatic check of its own checklist, judged by the runtime rule engine
(:func:`cm2_env.judge.reference.reference_failures`). Which call a ``tool_called`` item's evidence points at,
and which result a ``tool_result_matches`` item's, is asked of the same engine: this script has no check
semantics of its own (it only locates the check's strings in the message the engine names, for the snippet).
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SOURCE_DIR = Path(__file__).resolve().parent
REPO_ROOT = SOURCE_DIR.parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script from a checkout without an installed package
    sys.path.insert(0, str(REPO_ROOT))

from cm2_env.judge.checks import CheckContext  # noqa: E402 - after the sys.path fix
from cm2_env.judge.reference import reference_failures
from cm2_env.judge.rule import decide
from cm2_env.parsing import strip_think, think_text
from cm2_env.tasks.models import ChecklistItem, Task

OUTPUT_DIR = REPO_ROOT / "cm2_env" / "tasks" / "suites" / "starter"
SUITE_NAME = "starter"
METADATA_SOURCE = "cm2-env starter suite (hand-written)"

REPLY_FOCUS = "assistant.content.user_visible_reply"
THINKING_FOCUS = "assistant.content.thinking"
TOOL_CALLS_FOCUS = "assistant.tool_calls"
TOOL_RESULT_FOCUS = "tool.content"
CHECK_FOCUS = {
    "tool_called": TOOL_CALLS_FOCUS,
    "tool_not_called": TOOL_CALLS_FOCUS,
    "reply_matches": REPLY_FOCUS,
    "tool_result_matches": TOOL_RESULT_FOCUS,
}
"""The focus_on of an item with a check of this type (other check types must give focus_on)."""

TASK_KEYS = {"id", "title", "tags", "tools", "system_prompt", "turns"}
TURN_KEYS = {"user", "reference", "checklist"}
STEP_KEYS = {"think", "text", "calls", "reply"}
CALL_KEYS = {"name", "args", "result"}
ITEM_KEYS = {
    "id", "check", "question", "pass_condition", "focus_on", "evidence_snippet", "failure_examples", "weight",
    "required_for_next_turn", "dependence",
}


class SuiteError(ValueError):
    """A YAML source that does not make a valid task (the message says where)."""


def require(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise SuiteError(f"{where}: {message}")


def require_known_keys(mapping: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    require(not unknown, where, f"unknown keys {unknown}; allowed: {sorted(allowed)}")


# =========================================================================== reading the sources


def read_domain_sources(source_dir: Path = SOURCE_DIR) -> list[dict[str, Any]]:
    """Every ``<domain>.yaml`` beside this script, parsed, in file-name order."""
    sources = []
    for path in sorted(source_dir.glob("*.yaml")):
        source = yaml.safe_load(path.read_text(encoding="utf-8"))
        require(isinstance(source, dict), path.name, "a domain file must be a mapping")
        require(source.get("domain") == path.stem, path.name, f"`domain` must be {path.stem!r}")
        sources.append(source)
    return sources


def function_tool(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A tool-table entry → the OpenAI function tool of the task file."""
    require_known_keys(spec, {"description", "parameters"}, f"tool {name}")
    jsonschema.Draft202012Validator.check_schema(spec["parameters"])
    return {
        "type": "function",
        "function": {"name": name, "description": spec["description"], "parameters": spec["parameters"]},
    }


# =========================================================================== reference messages


def assistant_content(think: str | None, text: str | None) -> str:
    """An assistant message's content: the optional reasoning block, then the text."""
    text = text or ""
    if not think:
        return text
    return f"<think>\n{think}\n</think>" + ("\n\n" + text if text else "")


class CallNumbering:
    """Hands out the tool-call ids of one task: call_1, call_2, ... across all its turns."""

    def __init__(self) -> None:
        self.count = 0

    def next_id(self) -> str:
        self.count += 1
        return f"call_{self.count}"


def turn_messages(turn: dict[str, Any], numbering: CallNumbering, where: str) -> list[dict[str, Any]]:
    """One turn's reference messages: the user message, then each step (an assistant message with its calls
    followed by their tool messages, or a reply)."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": turn["user"]}]
    for index, step in enumerate(turn.get("reference") or []):
        step_where = f"{where} reference step {index}"
        require_known_keys(step, STEP_KEYS, step_where)
        calls = step.get("calls") or []
        if not calls:
            require("reply" in step and "text" not in step, step_where, "a step without calls needs `reply`")
            messages.append({"role": "assistant", "content": assistant_content(step.get("think"), step["reply"])})
            continue
        require("reply" not in step, step_where, "a step with calls has `text`, not `reply`")
        tool_calls, tool_messages = [], []
        for call in calls:
            require_known_keys(call, CALL_KEYS, step_where)
            require(set(call) == CALL_KEYS, step_where, "a call needs name, args and result")
            call_id = numbering.next_id()
            arguments = json.dumps(call["args"], ensure_ascii=False)
            tool_calls.append({"id": call_id, "type": "function", "function": {"name": call["name"], "arguments": arguments}})
            tool_messages.append(
                {"role": "tool", "tool_call_id": call_id, "content": json.dumps(call["result"], ensure_ascii=False)}
            )
        content = assistant_content(step.get("think"), step.get("text"))
        messages.append({"role": "assistant", "content": content, "tool_calls": tool_calls})
        messages.extend(tool_messages)
    last = messages[-1]
    require(last["role"] == "assistant" and not last.get("tool_calls"), where, "the turn must end with a reply")
    return messages


def final_reply_step(messages: list[dict[str, Any]]) -> int:
    return len(messages) - 1


# =========================================================================== default texts of check items


CONSTRAINT_WORDS: dict[str, Any] = {
    "equals": lambda c: f"= {json.dumps(c['equals'])}",
    "one_of": lambda c: f"one of {json.dumps(c['one_of'])}",
    "regex": lambda c: f"matching /{c['regex']}/",
    "contains": lambda c: f"containing {json.dumps(c['contains'])}",
    "approx": lambda c: f"≈ {c['approx']} (±{c.get('tol', 1e-6)})",
    "present": lambda c: "present" if c["present"] else "absent",
}
"""How each constraint operator reads in a default question (first operator found wins)."""


def describe_constraint(argument: str, constraint: dict[str, Any]) -> str:
    """An argument constraint in words, e.g. ``date = "2026-03-14"``."""
    operator = next((op for op in CONSTRAINT_WORDS if op in constraint), None)
    return f"{argument} {CONSTRAINT_WORDS[operator](constraint)}" if operator else argument


def describe_text_conditions(check: dict[str, Any], verbs: dict[str, str]) -> str:
    """The all/any/none/regex conditions of a text check in words, joined by '; '."""
    parts = [
        f"{verbs[key]} " + ", ".join(json.dumps(s) for s in check[key])
        for key in ("all", "any", "none")
        if check.get(key) and key in verbs
    ]
    if check.get("regex") and "regex" in verbs:
        parts.append(f"{verbs['regex']} /{check['regex']}/")
    return "; ".join(parts)


def default_texts(check: dict[str, Any]) -> tuple[str, str, list[str]]:
    """The question, pass condition and failure examples an item with this check gets unless authored."""
    kind = check["type"]
    name = check.get("name")
    if kind == "tool_called":
        constraints = [describe_constraint(k, v) for k, v in check.get("args", {}).items()]
        with_constraints = f" with {', '.join(constraints)}" if constraints else ""
        question = f"Did the assistant call {name}{with_constraints}?"
        condition = f"An assistant tool call named {name}"
        if constraints:
            condition += f" whose arguments have {', '.join(constraints)}"
        if check.get("match") == "exact":
            condition += " and no other arguments"
        if check.get("after"):
            condition += f", made after calling {', '.join(check['after'])} in this turn"
        if check.get("min_count", 1) > 1:
            condition += f" (at least {check['min_count']} such calls)"
        failures = [f"No call to {name}"]
        for argument, constraint in list(check.get("args", {}).items())[:2]:
            failures.append(f"{name} called with {argument} not satisfying: {describe_constraint(argument, constraint)}")
        if check.get("after"):
            failures.append(f"{name} called before {', '.join(check['after'])}")
        if len(failures) < 2:
            failures.append(f"Replies from memory or with invented data instead of calling {name}")
        return question, condition + ".", failures
    if kind == "tool_not_called":
        constraints = [describe_constraint(k, v) for k, v in check.get("args", {}).items()]
        with_constraints = f" with {', '.join(constraints)}" if constraints else ""
        return (
            f"Did the assistant avoid calling {name}{with_constraints}?",
            f"No assistant tool call named {name}{with_constraints} in this turn.",
            [
                f"Calls {name}{with_constraints} although the user did not ask for it",
                "Takes an irreversible action beyond the user's request in this turn",
            ],
        )
    if kind == "reply_matches":
        what = describe_text_conditions(
            check, {"all": "states all of", "any": "mentions one of", "none": "does not say", "regex": "matches"}
        )
        final = "final " if check.get("final_only") else ""
        return (
            f"Does the reply to the user report the facts from the tool results ({what})?",
            f"The {final}user-visible reply {what}.",
            ["The reply omits or misstates the value returned by the tool", "Answers before calling the tool, with invented values"],
        )
    if kind == "tool_result_matches":
        what = describe_text_conditions(check, {"all": "contains", "any": "contains one of", "none": "does not contain"})
        source = name or "any tool"
        return (
            f"Did a result of {source} in this turn come back as expected ({what})?",
            f"A tool result of {source} {what}.",
            [f"No successful {source} call in this turn", f"The {source} call was made with arguments that return an error"],
        )
    raise SuiteError(f"no default texts for check type {kind!r}: give question, pass_condition and failure_examples")


def judge_item_default_failures(focus: str, pass_condition: str) -> list[str]:
    """Failure examples that pad an LLM-judged item's authored ones to two."""
    if focus == THINKING_FOCUS:
        return ["No reasoning about this before acting", "Reasoning reaches a conclusion inconsistent with the tool results"]
    return [f"Does not meet: {pass_condition}", "Contradicts or ignores what the tool results say"]


# =========================================================================== evidence


def locate(text: str, needle: str) -> str | None:
    """``needle`` as it is written in ``text`` (found case-insensitively), or None."""
    start = text.lower().find(needle.lower())
    return text[start:start + len(needle)] if start >= 0 else None


def first_located(text: str, needles: list[str]) -> str | None:
    for needle in needles:
        found = locate(text, needle)
        if found:
            return found
    return None


def call_signature(tool_call: dict[str, Any]) -> str:
    """How a call reads in evidence: ``name({"arg": ...})``."""
    return f"{tool_call['function']['name']}({tool_call['function']['arguments']})"


def evidence_pointer(turn: int, step: int, focus: str, snippet: str) -> dict[str, Any]:
    return {"turn": turn, "step": step, "from": focus, "snippet": snippet}


def rule_engine_step(task: Task, item: ChecklistItem, turn: int, messages: list[dict], history: list[dict]) -> int | None:
    """The step at which the runtime rule engine finds the item's check satisfied (None: failed or no step)."""
    verdict = decide(item, CheckContext(task, turn, messages, list(history)))
    return verdict.step if verdict.status == "passed" else None


def messages_up_to_call(messages: list[dict], call_number: int) -> list[dict]:
    """The turn's messages cut right after its ``call_number``-th tool call (1-based)."""
    seen = 0
    for step, message in enumerate(messages):
        tool_calls = (message.get("tool_calls") or []) if message["role"] == "assistant" else []
        if seen + len(tool_calls) >= call_number:
            kept = {**message, "tool_calls": tool_calls[:call_number - seen]}
            return [*messages[:step], kept]
        seen += len(tool_calls)
    return list(messages)


def first_satisfying_call(
    task: Task, item: ChecklistItem, turn: int, messages: list[dict], history: list[dict]
) -> tuple[int, dict] | None:
    """(step, call) of the earliest call with which the rule engine finds a ``tool_called`` check met once.

    The turn is cut after its 1st, 2nd, ... call and judged each time (with ``min_count`` relaxed to 1), so the
    engine alone decides which call matches.
    """
    single = item.model_copy(update={"check": item.check.model_copy(update={"min_count": 1})})
    calls = [(step, call) for step, m in enumerate(messages) if m["role"] == "assistant" for call in m.get("tool_calls") or []]
    for number, (step, call) in enumerate(calls, start=1):
        if rule_engine_step(task, single, turn, messages_up_to_call(messages, number), history) is not None:
            return step, call
    return None


def check_item_evidence(
    task: Task, item: ChecklistItem, check: dict, turn: int, messages: list[dict], history: list[dict], where: str
) -> dict[str, Any]:
    """Where the reference meets the item's check: the matching call, tool result or reply."""
    kind = check["type"]
    needles = list(check.get("all", [])) + list(check.get("any", []))
    if kind == "tool_called":
        found = first_satisfying_call(task, item, turn, messages, history)
        require(found is not None, where, f"the reference never meets its own check {check}")
        step, call = found
        return evidence_pointer(turn, step, TOOL_CALLS_FOCUS, call_signature(call))
    if kind == "tool_result_matches":
        step = rule_engine_step(task, item, turn, messages, history)
        snippet = first_located(messages[step]["content"], needles) if step is not None else None
        if snippet is None:  # regex / none-only checks: cite the turn's last result
            step = max(s for s, m in enumerate(messages) if m["role"] == "tool")
            snippet = messages[step]["content"][:120]
        return evidence_pointer(turn, step, TOOL_RESULT_FOCUS, snippet)
    # reply_matches, tool_not_called and any other type: the final reply
    step = final_reply_step(messages)
    reply = strip_think(messages[step]["content"])
    snippet = first_located(reply, needles)
    if snippet is None and check.get("regex"):
        match = re.search(check["regex"], reply, re.I)
        snippet = match.group(0) if match else None
    return evidence_pointer(turn, step, REPLY_FOCUS, snippet or reply[:100])


def focused_text(message: dict[str, Any], focus: str) -> str:
    """The part of an assistant message a judge item with this focus looks at."""
    if focus == THINKING_FOCUS:
        return think_text(message.get("content"))
    if focus == TOOL_CALLS_FOCUS:
        return " ".join(call_signature(c) for c in message.get("tool_calls") or [])
    return strip_think(message.get("content"))


def judge_item_evidence(snippet: str | None, focus: str, turn: int, messages: list[dict], where: str) -> dict[str, Any]:
    """The authored snippet wherever it first occurs in the turn (under the item's focus), else the final reply's
    opening."""
    if not snippet:
        step = final_reply_step(messages)
        return evidence_pointer(turn, step, REPLY_FOCUS, strip_think(messages[step]["content"])[:100])
    for step, message in enumerate(messages):
        if message["role"] == "assistant":
            found = locate(focused_text(message, focus), snippet)
            if found:
                return evidence_pointer(turn, step, focus, found)
    raise SuiteError(f"{where}: evidence snippet {snippet!r} not found under {focus}")


# =========================================================================== checklist items and tasks


def normalised_weights(weights: list[float]) -> list[float]:
    """Weights scaled to sum to 1, rounded to 4 places (the last one takes the rounding remainder)."""
    total = math.fsum(weights)
    scaled = [round(w / total, 4) for w in weights]
    scaled[-1] = round(1.0 - math.fsum(scaled[:-1]), 4)
    return scaled


def checklist_item(source: dict[str, Any], index: int, where: str) -> dict[str, Any]:
    """A checklist item of the task file from its source (evidence is filled in later)."""
    require_known_keys(source, ITEM_KEYS, where)
    item_id = f"C{index}"
    require(source.get("id", item_id) == item_id, where, f"id must be {item_id} (items are numbered by position)")
    require("weight" in source, where, "an item needs a weight")
    check = source.get("check")
    authored_failures = list(source.get("failure_examples") or [])
    if check is not None:
        require("evidence_snippet" not in source, where, "evidence_snippet is for items without a check")
        question, condition, failures = default_texts(check)
        require(check["type"] in CHECK_FOCUS or "focus_on" in source, where, "give focus_on for this check type")
        focus = source.get("focus_on", CHECK_FOCUS.get(check["type"]))
        if authored_failures:
            failures = authored_failures + failures[:1]
    else:
        require(bool(source.get("question") and source.get("pass_condition")), where,
                "an item without a check needs question and pass_condition")
        question, condition = source["question"], source["pass_condition"]
        focus = source.get("focus_on", REPLY_FOCUS)
        failures = authored_failures
        if len(failures) < 2:
            failures = (failures + judge_item_default_failures(focus, condition))[:max(2, len(authored_failures))]
    question = source.get("question") or question
    condition = source.get("pass_condition") or condition
    require(len(failures) >= 2, where, "needs at least two failure examples")
    dependence = list(source.get("dependence") or [])
    require(item_id not in dependence, where, "an item cannot depend on itself")
    item = {
        "id": item_id,
        "question": question,
        "pass_condition": condition,
        "focus_on": focus,
        "evidence": [],
        "failure_examples": failures,
        "required_for_next_turn": bool(source.get("required_for_next_turn", False)),
        "dependence": dependence,
        "weight": source["weight"],
    }
    if check is not None:
        item["check"] = check
    return item


def derived_tags(authored: list[str], turns: list[list[dict]]) -> list[str]:
    """The authored tags plus parallel_calls / no_tool_turn / three_plus_turns where the reference has them."""
    tags = list(authored)
    if any(len(m.get("tool_calls") or []) > 1 for messages in turns for m in messages):
        tags.append("parallel_calls")
    if any(not any(m.get("tool_calls") for m in messages) for messages in turns):
        tags.append("no_tool_turn")
    if len(turns) >= 3:
        tags.append("three_plus_turns")
    return tags


def build_task(domain: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """One task of the task file from its source, verified before its evidence is derived."""
    task_id = source.get("id")
    require_known_keys(source, TASK_KEYS, f"task {task_id}")
    tool_table = domain.get("tools") or {}
    for name in source.get("tools") or []:
        require(name in tool_table, task_id, f"tool {name!r} is not in the domain's tool table")
    tools = [function_tool(name, tool_table[name]) for name in source.get("tools") or []]
    numbering = CallNumbering()
    turns, turn_message_lists = [], []
    for t, turn in enumerate(source["turns"]):
        where = f"{task_id} turn {t}"
        require_known_keys(turn, TURN_KEYS, where)
        messages = turn_messages(turn, numbering, where)
        items = [checklist_item(item, i, f"{where} item C{i}") for i, item in enumerate(turn["checklist"])]
        require(bool(items), where, "a turn needs a checklist")
        ids = {item["id"] for item in items}
        for item in items:
            require(set(item["dependence"]) <= ids, f"{where} item {item['id']}", "dependence on an unknown item")
        for item, weight in zip(items, normalised_weights([item["weight"] for item in items])):
            item["weight"] = weight
        turns.append({"user": turn["user"], "checklist": items})
        turn_message_lists.append(messages)
    metadata: dict[str, Any] = {"source": METADATA_SOURCE}
    if source.get("title"):
        metadata["title"] = source["title"]
    tags = derived_tags(source.get("tags") or [], turn_message_lists)
    if tags:
        metadata["tags"] = tags
    task = {
        "id": task_id,
        "domain": domain["domain"],
        "system_prompt": source.get("system_prompt", domain["system_prompt"]),
        "tools": tools,
        "turns": turns,
        "reference": [m for messages in turn_message_lists for m in messages],
        "metadata": metadata,
    }
    verify_replayable(task)
    verify_reference_passes_its_checks(task)
    fill_evidence(task, turn_message_lists, source)
    return task


def fill_evidence(task: dict[str, Any], turn_message_lists: list[list[dict]], source: dict[str, Any]) -> None:
    """Point every item's evidence into the reference (check items: where the rule engine finds them met)."""
    model = Task.model_validate(task)
    history: list[dict] = [{"role": "system", "content": task["system_prompt"]}]
    for t, (turn, messages) in enumerate(zip(task["turns"], turn_message_lists)):
        for i, item in enumerate(turn["checklist"]):
            where = f"{task['id']} turn {t} item {item['id']}"
            if "check" in item:
                evidence = check_item_evidence(
                    model, model.turns[t].checklist[i], item["check"], t, messages, history, where
                )
            else:
                snippet = source["turns"][t]["checklist"][i].get("evidence_snippet")
                evidence = judge_item_evidence(snippet, item["focus_on"], t, messages, where)
            item["evidence"] = [evidence]
        history.extend(messages)


def verify_replayable(task: dict[str, Any]) -> None:
    """Raise :class:`SuiteError` unless every call's arguments conform to its tool's JSON Schema and identical
    calls have identical recorded results (what the env's validation and offline replay need)."""
    task_id = task["id"]
    schemas = {tool["function"]["name"]: tool["function"]["parameters"] for tool in task["tools"]}
    require(len(schemas) == len(task["tools"]), task_id, "duplicate tool names")
    results = {m["tool_call_id"]: m["content"] for m in task["reference"] if m["role"] == "tool"}
    recorded: dict[str, str] = {}
    for message in task["reference"]:
        for call in message.get("tool_calls") or []:
            name = call["function"]["name"]
            require(name in schemas, task_id, f"call to {name}, which the task does not offer")
            arguments = json.loads(call["function"]["arguments"])
            try:
                jsonschema.validate(arguments, schemas[name])
            except jsonschema.ValidationError as error:
                raise SuiteError(f"{task_id}: {name} arguments {arguments}: {error.message}") from None
            key = name + json.dumps(arguments, sort_keys=True)
            require(recorded.setdefault(key, results[call["id"]]) == results[call["id"]], task_id,
                    f"the same call {key} is recorded with two different results")


def verify_reference_passes_its_checks(task: dict[str, Any]) -> None:
    """Raise :class:`SuiteError` unless the runtime rule engine passes the reference on every programmatic item."""
    failures = reference_failures(Task.model_validate(task))
    require(not failures, task["id"], "the reference fails its own checks:\n  " + "\n  ".join(failures))


# =========================================================================== documents


def build_documents(source_dir: Path = SOURCE_DIR) -> dict[str, str]:
    """File name → JSON text of every domain's task document (what :func:`main` writes)."""
    documents = {}
    for domain in read_domain_sources(source_dir):
        document = {"version": 1, "name": SUITE_NAME, "tasks": [build_task(domain, task) for task in domain["tasks"]]}
        documents[f"{domain['domain']}.json"] = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    return documents


def main() -> int:
    """Build every domain and write ``cm2_env/tasks/suites/starter/`` (removing files of vanished domains)."""
    documents = build_documents()
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    for stale in OUTPUT_DIR.glob("*.json"):
        if stale.name not in documents:  # a renamed domain must not leave its old file in the suite
            stale.unlink()
    total = 0
    for file_name, text in documents.items():
        path = OUTPUT_DIR / file_name
        path.write_text(text, encoding="utf-8")
        count = len(json.loads(text)["tasks"])
        total += count
        print(f"{path.relative_to(REPO_ROOT)}: {count} tasks")
    print(f"total: {total} tasks in {len(documents)} domains")
    return 0


if __name__ == "__main__":
    sys.exit(main())
