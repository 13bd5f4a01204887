"""tau2 tasks → cm2 :class:`~cm2_env.tasks.models.Task` (generic over every domain tau2 registers).

* system prompt: exactly what tau2's ``LLMAgent.system_prompt`` builds (``SYSTEM_PROMPT`` with
  ``AGENT_INSTRUCTION`` and the domain policy); tool schemas: the domain tools' ``openai_schema``.
* user side (scripted, an approximation of tau2's LLM user; :func:`plan_turns`): turn 0 says the scenario's
  reason for call and known info (plain-text instructions as they are); at the first gold WRITE a turn confirms
  ("Yes, I confirm...": tau2's policies require explicit confirmation before writes); gold actions whose requestor
  is ``user`` are performed by the scripted user on the user environment before the turn they precede (a new
  "done" turn when they follow assistant actions). ``metadata.tau2.user_turn_actions`` lists them per turn.
* reference: gold assistant actions turn by turn (a confirmation request before the confirm turn, a request for
  the user's own steps before a "done" turn), ending with a reply that carries every ``communicate_info`` string.
* checklist (on the LAST turn, judged once per episode — tau2's criteria are episode-level: the gold actions
  may legitimately happen in either turn, and DB state/assertions only mean something at the end):
  gold WRITE actions → ``tau2_action`` (tau2's own ``compare_with_tool_call``: ``compare_args`` pinned),
  READ actions → ``tau2_action`` at low weight, user-side gold actions → ``tau2_action`` with ``requestor: user``
  at low weight (did the agent get the user to do it), ``tau2_db`` (DB hash equals the gold replay's),
  each env assertion → ``tau2_env_assertion``, each communicate_info → ``tau2_communicate`` (tau2's rule:
  case-insensitive substring of a reply with commas removed), each nl_assertion → an item WITHOUT a check
  (an LLM judge decides it; offline it is reported unjudged).
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from typing import Any

from ...tasks.models import ChecklistItem, Task, Turn
from . import _tau2
from .checks import Tau2ActionCheck, Tau2CommunicateCheck, Tau2DBCheck, Tau2EnvAssertionCheck

CONFIRM = "Yes, I confirm. Please go ahead."
WEIGHTS = {"write": 0.35, "db": 0.25, "assert": 0.1, "communicate": 0.15, "read": 0.05, "nl": 0.1, "user": 0.05}


def system_prompt(env: Any) -> str:
    mod = _tau2._import("tau2.agent.llm_agent")
    return mod.SYSTEM_PROMPT.format(domain_policy=env.get_policy(), agent_instruction=mod.AGENT_INSTRUCTION)


def tool_types(env: Any) -> dict[str, str]:
    kit = _tau2._import("tau2.environment.toolkit")
    return {k: getattr(v, "value", str(v)) for k, v in kit.get_tool_types(env.tools).items()} if env.tools else {}


def opening(task: Any) -> str:
    ins = task.user_scenario.instructions
    if isinstance(ins, str):
        return ins
    parts = [ins.reason_for_call.strip()]
    if ins.known_info:
        parts.append(ins.known_info.strip())
    return "\n\n".join(parts)


def _call(action: Any, idx: int, turn: int) -> dict[str, Any]:
    return {"id": f"gold_{turn}_{idx}", "type": "function",
            "function": {"name": action.name, "arguments": json.dumps(action.arguments)}}


DONE = "Done, I did that on my side."
ASK_CONFIRM = "I can do this for you. Do you confirm that I should proceed?"


def plan_turns(actions: list[Any], types: dict[str, str], opening_text: str) -> list[dict[str, Any]]:
    """The scripted conversation derived from the gold actions, in their order: one entry per user turn with
    the user-requestor actions the user performs before speaking (indexes into ``actions``), its text, and the
    assistant actions of that turn. A new turn starts at the first assistant WRITE (the user confirms) and at
    each user action that follows an assistant action in the gold order (the user does it, then says so)."""
    turns = [{"user_actions": [], "text": opening_text, "agent": []}]
    wrote = False
    for i, a in enumerate(actions):
        cur = turns[-1]
        if a.requestor != "assistant":
            if cur["agent"]:
                turns.append({"user_actions": [], "text": DONE, "agent": []})
            turns[-1]["user_actions"].append(i)
            continue
        if types.get(a.name) == "write" and not wrote:
            wrote = True
            turns.append({"user_actions": [], "text": CONFIRM, "agent": []})
        turns[-1]["agent"].append(a)
    return turns


def _user_step(a: Any) -> str:
    return f"{a.name}({json.dumps(a.arguments)})"


def _reference(turns: list[dict[str, Any]], communicate: list[str]) -> list[dict[str, Any]]:
    """Assistant/tool messages (user messages are left empty: the env's scripted user says them) per turn."""
    final = "Done." + ("" if not communicate else " " + " ".join(communicate))
    out: list[dict[str, Any]] = []
    for t, turn in enumerate(turns):
        out.append({"role": "user", "content": ""})
        for i, a in enumerate(turn["agent"]):
            call = _call(a, i, t)
            out.append({"role": "assistant", "content": "", "tool_calls": [call]})
            out.append({"role": "tool", "tool_call_id": call["id"], "name": a.name, "content": ""})
        if t == len(turns) - 1:
            text = final
        elif turns[t + 1]["text"] == CONFIRM:
            text = ASK_CONFIRM
        else:
            text = "Please do this on your side: " + "; ".join(turns[t + 1]["_steps"]) + "."
        out.append({"role": "assistant", "content": text})
    return out


def _normalise(items: list[tuple[str, ChecklistItem]]) -> list[ChecklistItem]:
    totals: dict[str, int] = {}
    for kind, _ in items:
        totals[kind] = totals.get(kind, 0) + 1
    mass = sum(WEIGHTS[k] for k in totals)
    out = []
    for kind, it in items:
        it.weight = WEIGHTS[kind] / totals[kind] / mass
        out.append(it)
    if out:  # exact sum 1 despite rounding
        out[-1].weight = max(0.0, 1.0 - sum(i.weight for i in out[:-1]))
    return out


@lru_cache(maxsize=None)
def _domain_parts(domain: str) -> tuple[str, tuple[dict[str, Any], ...], dict[str, str]]:
    env = _tau2.base_environment(domain)
    tools = env.get_tools()
    tools = list(tools.values()) if isinstance(tools, dict) else list(tools)
    return system_prompt(env), tuple(t.openai_schema for t in tools), tool_types(env)


def tau2_to_task(domain: str, task: Any) -> Task:
    prompt, schemas, types = _domain_parts(domain)
    crit = task.evaluation_criteria
    actions = [a for a in (crit.actions or [])] if crit else []
    agent_actions = [a for a in actions if a.requestor == "assistant"]
    plan = plan_turns(actions, types, opening(task))
    for turn in plan:
        turn["_steps"] = [_user_step(actions[i]) for i in turn["user_actions"]]
    communicate = list(crit.communicate_info or []) if crit else []
    nl = list(crit.nl_assertions or []) if crit else []
    basis = [getattr(b, "value", str(b)) for b in (crit.reward_basis or [])] if crit else []
    items: list[tuple[str, ChecklistItem]] = []
    for i, a in enumerate(agent_actions):
        kind = "write" if types.get(a.name) == "write" else "read"
        pinned = a.compare_args if a.compare_args is not None else sorted(a.arguments)
        items.append((kind, ChecklistItem(
            id=f"A{i}", weight=0.0, question=f"Did the assistant call {a.name} with {json.dumps({k: a.arguments.get(k) for k in pinned})}?",
            pass_condition=f"a {a.name} call whose arguments {pinned} equal the gold action {a.action_id}",
            focus_on="assistant.tool_calls",
            check=Tau2ActionCheck(name=a.name, arguments=a.arguments, compare_args=a.compare_args),
            extra_info={"action_id": a.action_id, "tool_type": types.get(a.name)})))
    for i, a in enumerate(a for a in actions if a.requestor != "assistant"):
        pinned = a.compare_args if a.compare_args is not None else sorted(a.arguments)
        items.append(("user", ChecklistItem(
            id=f"U{i}", weight=0.0, question=f"Did the user, as guided, call {a.name} with "
            f"{json.dumps({k: a.arguments.get(k) for k in pinned})} on their side?",
            pass_condition=f"a user-side {a.name} call whose arguments {pinned} equal the gold action {a.action_id}",
            focus_on="tool.content",
            check=Tau2ActionCheck(name=a.name, arguments=a.arguments, compare_args=a.compare_args, requestor="user"),
            extra_info={"action_id": a.action_id, "requestor": a.requestor})))
    if crit is not None and (actions or "DB" in basis):
        items.append(("db", ChecklistItem(id="DB", weight=0.0, question="Does the final database equal the gold trajectory's?",
                                          focus_on="tool.content", check=Tau2DBCheck(),
                                          extra_info={"in_reward_basis": "DB" in basis})))
    for i, ea in enumerate((crit.env_assertions or []) if crit else []):
        items.append(("assert", ChecklistItem(
            id=f"E{i}", weight=0.0, question=ea.message or f"Does {ea.func_name}({ea.arguments}) return {ea.assert_value}?",
            focus_on="tool.content", check=Tau2EnvAssertionCheck(index=i))))
    for i, info in enumerate(communicate):
        items.append(("communicate", ChecklistItem(
            id=f"C{i}", weight=0.0, question=f"Did the assistant tell the user {info!r}?",
            focus_on="assistant.content.user_visible_reply", check=Tau2CommunicateCheck(info=info))))
    for i, text in enumerate(nl):
        items.append(("nl", ChecklistItem(id=f"N{i}", weight=0.0, question=text, focus_on="assistant.content.user_visible_reply",
                                          extra_info={"nl_assertion": True})))
    last = _normalise(items)
    history = list(task.initial_state.message_history or []) if task.initial_state is not None else []
    if history:  # the agent must see the prior conversation tau2 starts from: shown after the prompt
        lines = [f"{getattr(m, 'role', '?')}: " + (getattr(m, "content", None) or json.dumps(
            [{"name": c.name, "arguments": c.arguments} for c in (getattr(m, "tool_calls", None) or [])]))
            for m in history]
        prompt = prompt + "\n<previous_conversation>\n" + "\n".join(lines) + "\n</previous_conversation>"
    turns = [Turn(user=p["text"], checklist=[]) for p in plan]
    turns[-1].checklist = last
    user_actions = [a.action_id for a in actions if a.requestor != "assistant"]
    meta = {"tau2": {"domain": domain, "task_id": task.id, "task": task.model_dump(mode="json"),
                     # an empty NL-assertion list scores 1 in tau2 with no LLM call: only a non-empty one needs a judge
                     "reward_basis": basis, "needs_llm": "NL_ASSERTION" in basis and bool(nl),
                     "nl_assertions": len(nl),
                     "user_requestor_actions": user_actions,
                     "user_turn_actions": [p["user_actions"] for p in plan], "tau2_version": _tau2.tau2_version(),
                     "tool_types": types}}
    ins = task.user_scenario.instructions
    hidden = None if isinstance(ins, str) else (getattr(ins, "unknown_info", None) or None)
    return Task(
        id=f"{domain}/{task.id}", domain=f"tau2/{domain}", system_prompt=prompt,
        tools=copy.deepcopy(list(schemas)),
        turns=turns, reference=_reference(plan, communicate),
        user={"persona": task.user_scenario.persona, "goal": str(ins), "hidden_info": hidden},
        metadata=meta,
    )


def load_domain(domain: str, *, limit: int | None = None, ids=None) -> list[Task]:
    why = _tau2.domain_status(domain)
    if why is not None:
        raise ValueError(f"tau2 domain {domain!r} cannot run from this data: {why}")
    wanted = None if ids is None else {str(i).removeprefix(f"{domain}/") for i in ids}
    out = []
    for t in _tau2.domain_tasks(domain):
        if wanted is not None and str(t.id) not in wanted:
            continue
        out.append(tau2_to_task(domain, t))
        if limit is not None and len(out) >= limit:
            break
    return out
