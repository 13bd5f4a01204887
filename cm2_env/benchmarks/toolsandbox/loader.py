"""ToolSandbox scenarios → cm2 ``Task`` (one per scenario).

* system prompt + first user message: exactly what ToolSandbox's OpenAI agent is shown (``to_openai_messages`` of
  the agent-visible SANDBOX rows); tools: ``convert_to_openai_tools`` of the agent's available tools, so name /
  argument scrambling of the augmentations is kept.
* user goal (for an LLM user): the scenario's SYSTEM→USER instruction. Categories in ``metadata.categories``.
* checklist (one turn; see ``checklist_of``) and an oracle ``reference`` where the milestones determine the calls and
  the reply (``reference_of``).
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

from ...tasks.models import ChecklistItem, Task
from . import _ts
from . import checks as _checks  # noqa: F401 - registers the check types used below

RAPID_API_MODULE = "tool_sandbox.tools.rapid_api_search_tools"


def base_names(scenarios: dict[str, Any]) -> list[str]:
    """The base scenarios (those that have a ``_3_distraction_tools`` augmentation), in ToolSandbox's order."""
    return [n for n in scenarios if f"{n}_3_distraction_tools" in scenarios]


def augmentations_of(scenarios: dict[str, Any]) -> list[str]:
    """Augmentation suffixes (e.g. ``3_distraction_tools``, ``arg_description_scrambled``)."""
    bases = base_names(scenarios)
    first = bases[0]
    return [n[len(first) + 1:] for n in scenarios if n.startswith(first + "_") and n not in bases]


def rapid_api_tools() -> set[str]:
    import tool_sandbox.tools as tools_pkg  # noqa: F401
    import importlib

    mod = importlib.import_module(RAPID_API_MODULE)
    return {n for n, f in vars(mod).items() if callable(f) and getattr(f, "is_tool", False)
            and getattr(f, "__module__", None) == RAPID_API_MODULE}


def is_local(scenario: Any, rapid: set[str]) -> bool:
    return not (set(scenario.starting_context.tool_allow_list or []) & rapid)


def default_local_only() -> bool:
    """``local_only``'s default: on unless ``RAPID_API_KEY`` is set (ToolSandbox's RapidAPI tools read that
    variable and refuse to run without it)."""
    return "RAPID_API_KEY" not in os.environ


def rapid_api_scenarios(augmentations: Sequence[str] | bool = False) -> list[str]:
    """Names of the scenarios ``local_only`` drops (those whose tool allow list has a RapidAPI tool)."""
    sc = _ts.all_scenarios()
    augs = augmentations_of(sc) if augmentations is True else list(augmentations or [])
    rapid = rapid_api_tools()
    return [n for b in base_names(sc) if not is_local(sc[b], rapid) for n in [b, *(f"{b}_{a}" for a in augs)]]


def _sandbox_rows(scenario: Any) -> list[dict[str, Any]]:
    from tool_sandbox.common.execution_context import DatabaseNamespace

    return scenario.starting_context.get_database(DatabaseNamespace.SANDBOX, get_all_history_snapshots=True).to_dicts()


def _target_rows(constraint: Any) -> list[dict[str, Any]]:
    df = constraint.target_dataframe
    return [] if df is None else df.to_dicts()


def _is_guardrail(constraint: Any) -> bool:
    fn = constraint.snapshot_constraint
    return getattr(fn, "__name__", None) == "guardrail_similarity" or \
        getattr(getattr(fn, "func", None), "__name__", None) == "guardrail_similarity"


def milestone_kind(milestone: Any, *, ignore_guardrails: bool = False) -> tuple[str, Any]:
    """``("tool", trace)``, ``("reply", text)`` or ``("db", None)`` for one milestone (minefields alike).

    ``ignore_guardrails``: classify by the constraints other than ToolSandbox's guardrails (databases that must
    stay as they started), e.g. for the oracle, whose calls change nothing the milestone does not name."""
    cons = [c for c in milestone.snapshot_constraints if not (ignore_guardrails and _is_guardrail(c))]
    if len(cons) == 1 and str(cons[0].database_namespace) == "SANDBOX":
        rows = _target_rows(cons[0])
        if len(rows) == 1:
            r = rows[0]
            if r.get("tool_trace") and r.get("sender") == "EXECUTION_ENVIRONMENT" and r.get("recipient") == "AGENT":
                trace = json.loads(r["tool_trace"])
                return "tool", trace if isinstance(trace, list) else [trace]
            if r.get("sender") == "AGENT" and r.get("recipient") == "USER" and isinstance(r.get("content"), str):
                return "reply", r["content"]
    return "db", None


def _agent_name(ctx: Any, execution_name: str) -> str | None:
    """Agent-facing (possibly scrambled) name of an execution-facing tool name."""
    for agent_facing in ctx.get_available_tools(scrambling_allowed=True):
        if ctx.get_execution_facing_tool_name(agent_facing) == execution_name:
            return agent_facing
    return None


def _args_constraint(args: dict[str, Any]) -> dict[str, Any]:
    # ToolSandbox compares a None target with is_close(actual or NOT_GIVEN, None): an omitted or null argument;
    # cm2's ArgConstraint has no "null or absent" operator, so such arguments are left unconstrained
    return {k: {"equals": v} for k, v in args.items() if v is not None}


def checklist_of(scenario: Any, ctx: Any) -> list[ChecklistItem]:
    """Milestones → items (equal weights summing to 1); minefields → ``veto`` items.

    tool-trace milestones (one EXECUTION_ENVIRONMENT→AGENT trace with one alternative, name not scrambled away)
    → ``tool_called`` with the trace's argument subset, ``after`` = the tool names of its DAG predecessors;
    every other milestone (database, reply, multi-alternative traces) → ``toolsandbox_milestone`` running
    ToolSandbox's matcher on the session's context. Minefields → ``tool_not_called`` (tool traces) or
    ``toolsandbox_minefield``, marked ``veto``: ToolSandbox's similarity is 0 when any minefield matches, and a
    failed veto item scores the turn 0. A minefield carries no weight beside milestones (ToolSandbox gives no
    credit for avoiding one); a scenario without milestones (ToolSandbox's milestone similarity is then 1) spreads
    the weight over its minefields, so avoiding them all scores 1.
    """
    matcher = scenario.evaluation.milestone_matcher
    milestones = list(matcher.milestones)
    edges = list(matcher.edge_list or [])
    mine = list(scenario.evaluation.minefield_matcher.milestones)
    if not milestones and not mine:
        return []
    w = 1.0 / len(milestones) if milestones else 0.0
    w_mine = 0.0 if milestones else 1.0 / len(mine)
    tool_names: dict[int, str] = {}
    items: list[ChecklistItem] = []
    for i, m in enumerate(milestones):
        kind, value = milestone_kind(m)
        preds = sorted({a for a, b in edges if b == i})
        check: dict[str, Any]
        if kind == "tool" and len(value) == 1 and (name := _agent_name(ctx, value[0]["tool_name"])):
            tool_names[i] = name
            after = [tool_names[p] for p in preds if p in tool_names]
            check = {"type": "tool_called", "name": name, "args": _args_constraint(value[0].get("arguments", {})),
                     "after": sorted(set(after) - {name})}
            q = f"Did the assistant call {name} with {json.dumps(value[0].get('arguments', {}), ensure_ascii=False)}?"
        else:
            check = {"type": "toolsandbox_milestone", "index": i, "min_similarity": 0.5 if kind == "reply" else 1.0}
            q = (f"Does the episode reach ToolSandbox milestone {i} ({kind})"
                 + (f": a reply like {value!r}?" if kind == "reply" else "?"))
        items.append(ChecklistItem(id=f"M{i}", question=q, focus_on="assistant.content.user_visible_reply"
                                   if kind == "reply" else "assistant.tool_calls", weight=w, check=check,
                                   dependence=[f"M{p}" for p in preds],
                                   extra_info={"toolsandbox": {"milestone": i, "kind": kind}}))
    for j, m in enumerate(mine):
        kind, value = milestone_kind(m)
        if kind == "tool" and len(value) == 1 and (name := _agent_name(ctx, value[0]["tool_name"])):
            check = {"type": "tool_not_called", "name": name, "args": _args_constraint(value[0].get("arguments", {}))}
        else:
            check = {"type": "toolsandbox_minefield", "index": j}
        items.append(ChecklistItem(id=f"F{j}", question=f"Does the episode avoid ToolSandbox minefield {j} ({kind})?",
                                   weight=w_mine, veto=True, check=check,
                                   extra_info={"toolsandbox": {"minefield": j, "kind": kind}}))
    return items


def reference_of(scenario: Any, ctx: Any, user_message: str,
                 tools: list[dict[str, Any]] | None = None) -> list[dict[str, Any]] | None:
    """Oracle trajectory when every milestone is a tool trace or a reply (one reply, last; guardrail constraints
    aside): the calls with the milestone's arguments in milestone order, then the reply (or "Done."). None when
    not determined — also when a trace's arguments are only a subset of the call (they miss a required argument
    of the tool's schema in ``tools``, or are empty for a tool that takes arguments)."""
    params = {t["function"]["name"]: t["function"].get("parameters") or {} for t in tools or []}
    ms = list(scenario.evaluation.milestone_matcher.milestones)
    kinds = [milestone_kind(m, ignore_guardrails=True) for m in ms]
    if any(k == "db" for k, _ in kinds):
        return None
    replies = [i for i, (k, _) in enumerate(kinds) if k == "reply"]
    if len(replies) > 1 or (replies and replies[0] != len(kinds) - 1):
        return None
    out: list[dict[str, Any]] = [{"role": "user", "content": user_message}]
    for i, (k, v) in enumerate(kinds):
        if k != "tool":
            continue
        name = _agent_name(ctx, v[0]["tool_name"])
        if name is None:
            return None
        args = {a for a, x in v[0].get("arguments", {}).items() if x is not None}
        schema = params.get(name, {})
        if not set(schema.get("required") or []) <= args or (not args and schema.get("properties")):
            return None
        cid = f"ref_{i}"
        out.append({"role": "assistant", "content": "", "tool_calls": [{"id": cid, "type": "function", "function": {
            "name": name, "arguments": json.dumps({a: x for a, x in v[0].get("arguments", {}).items() if x is not None},
                                                  ensure_ascii=False)}}]})
        out.append({"role": "tool", "tool_call_id": cid, "name": name, "content": ""})
    out.append({"role": "assistant", "content": kinds[replies[0]][1] if replies else "Done."})
    return out


def task_of(name: str, scenario: Any, *, base: str, augmentation: str | None) -> Task:
    from .session import ToolSandboxSession

    rows = _sandbox_rows(scenario)
    # the scenario's own user instruction: its SYSTEM→USER row that is not part of a user few-shot dialogue
    # (those rows are visible_to=[USER] only and come first)
    instruction = next((r["content"] for r in reversed(rows) if r["sender"] == "SYSTEM" and r["recipient"] == "USER"
                        and list(r.get("visible_to") or []) != ["USER"]), None)
    stub = Task(id=name, tools=[], turns=[{"user": ""}], metadata={"toolsandbox": {"scenario": name}})
    sess = ToolSandboxSession(stub)
    msgs = sess.agent_messages()
    tools = sess.agent_tools()
    system = "\n".join(m["content"] for m in msgs if m["role"] == "system")
    user = next(m["content"] for m in msgs if m["role"] == "user")
    with _ts.in_context(sess) as ctx:
        checklist = checklist_of(scenario, ctx)
        reference = reference_of(scenario, ctx, user, tools)
    cats = [str(c) for c in scenario.categories]
    return Task(
        id=name, domain="toolsandbox", system_prompt=system, tools=tools,
        turns=[{"user": user, "checklist": checklist}],
        user={"goal": instruction, "max_turns": max(1, scenario.max_messages // 2)} if instruction else None,
        reference=reference,
        metadata={"source": "apple/ToolSandbox@165848b", "categories": cats,
                  "toolsandbox": {"scenario": name, "base": base, "augmentation": augmentation,
                                  "max_messages": scenario.max_messages, "user_instruction": instruction,
                                  "oracle": reference is not None}},
    )


def load_scenarios(*, augmentations: Sequence[str] | bool = False, local_only: bool | None = None,
                   names: Sequence[str] | None = None) -> list[Task]:
    """Tasks of the base scenarios (+ the named augmentations, or all with ``True``).

    local_only: drop scenarios using RapidAPI tools (default: on unless ``RAPID_API_KEY`` is set).
    """
    sc = _ts.all_scenarios()
    bases = base_names(sc)
    augs = augmentations_of(sc)
    if augmentations is True:
        wanted = augs
    elif augmentations:
        wanted = [a for a in augmentations]
        bad = set(wanted) - set(augs)
        if bad:
            raise ValueError(f"unknown augmentation(s) {sorted(bad)}; known: {augs}")
    else:
        wanted = []
    if local_only is None:
        local_only = default_local_only()
    rapid = rapid_api_tools() if local_only else set()
    chosen = set(names) if names is not None else None
    tasks = []
    for b in bases:
        if local_only and not is_local(sc[b], rapid):
            continue
        for aug in [None, *wanted]:
            n = b if aug is None else f"{b}_{aug}"
            if chosen is not None and n not in chosen:
                continue
            tasks.append(task_of(n, sc[n], base=b, augmentation=aug))
    return tasks
