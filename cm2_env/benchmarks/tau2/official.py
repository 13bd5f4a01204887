"""tau2's own verdict: ``tau2.evaluator.evaluator.evaluate_simulation`` on a ``SimulationRun`` of the episode.

The tau2 trajectory is built from the cm2 messages (system prompt left out, as tau2 keeps it out of
``SimulationRun.messages``) with the tool calls/results taken from the episode session's record of executed
calls (tau2's ``ToolMessage`` objects, so the evaluator's strict replay sees exactly the outputs the agent saw);
calls refused by cm2's validation never ran and are left out. Termination: the scripted/LLM user ending the
conversation (``user_done``) is tau2's ``user_stop``; limits map to ``max_steps``; anything else to
``agent_error`` (tau2 scores 0 unless the episode ended by agent or user stop).

Tasks whose ``reward_basis`` holds ``NL_ASSERTION`` and that have NL assertions need an LLM judge (an empty
list scores 1 in tau2 without one): without ``nl_judge=True`` (which lets tau2 call its LLM through litellm) they
are flagged ``needs_llm`` with ``reward: None`` — never scored pass or
fail — and ``reward_without_nl`` gives the product over the other bases.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from ...tasks.models import Task
from . import _tau2
from .executor import Tau2ToolSession, tau2_meta, tau2_task

END_TO_TERMINATION = {"user_done": "user_stop", "agent_stop": "agent_stop", "max_steps_per_turn": "max_steps",
                      "max_turns": "max_steps"}


def tau2_messages(messages: list[dict[str, Any]], session: Tau2ToolSession | None) -> list[Any]:
    m = _tau2._import("tau2.data_model.message")
    executed = {} if session is None else {e.call_id: e for e in session.executed}
    out: list[Any] = []
    turn = 0
    if session is not None:  # tau2 keeps the task's prior conversation at the head of the simulation's messages
        init = tau2_task(session.task).initial_state
        out.extend(list((init.message_history or []) if init is not None else []))
    for msg in messages:
        role = msg.get("role")
        if role == "user":
            out.append(m.UserMessage(role="user", content=msg.get("content") or "", turn_idx=turn))
        elif role == "assistant":
            calls = []
            for tc in msg.get("tool_calls") or []:
                e = executed.get(tc.get("id"))
                if e is not None:
                    calls.append(m.ToolCall(id=e.call_id, name=e.name, arguments=e.arguments, requestor="assistant"))
            content = msg.get("content") or None
            if content is None and not calls:
                continue
            out.append(m.AssistantMessage(role="assistant", content=content, tool_calls=calls or None,
                                          turn_idx=turn))
        elif role == "tool":
            e = executed.get(msg.get("tool_call_id"))
            if e is not None:
                out.append(e.message)
        else:
            continue
        turn += 1
    return out


def simulation_run(task: Task, messages: list[Any], termination: str):
    sim = _tau2._import("tau2.data_model.simulation")
    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    return sim.SimulationRun(id=uuid.uuid4().hex, task_id=str(tau2_task(task).id), start_time=now, end_time=now,
                             duration=0.0, termination_reason=sim.TerminationReason(termination), messages=messages)


def official_verdict(task: Task, messages: list[dict[str, Any]], session: Any = None, *,
                     end_reason: str | None = "user_done", nl_judge: bool = False) -> dict[str, Any]:
    ev = _tau2._import("tau2.evaluator.evaluator")
    meta = tau2_meta(task)
    t = tau2_task(task)
    termination = END_TO_TERMINATION.get(end_reason or "", "agent_error")
    run = simulation_run(task, tau2_messages(messages, session if isinstance(session, Tau2ToolSession) else None),
                         termination)
    needs_llm = bool(meta.get("needs_llm"))
    out: dict[str, Any] = {"task_id": t.id, "domain": meta["domain"], "termination_reason": termination,
                           "needs_llm": needs_llm, "reward_basis": meta.get("reward_basis")}
    judged_task = t
    if needs_llm and not nl_judge:
        judged_task = t.model_copy(deep=True)
        judged_task.evaluation_criteria.reward_basis = [
            b for b in judged_task.evaluation_criteria.reward_basis if getattr(b, "value", b) != "NL_ASSERTION"]
    info = ev.evaluate_simulation(run, judged_task, ev.EvaluationType.ALL, False, meta["domain"])
    out["reward"] = None if needs_llm and not nl_judge else float(info.reward)
    if needs_llm and not nl_judge:
        out["reward_without_nl"] = float(info.reward)
        out["note"] = "NL_ASSERTION in reward_basis and no LLM judge configured: not scored"
    out["db_match"] = None if info.db_check is None else bool(info.db_check.db_match)
    out["reward_breakdown"] = {getattr(k, "value", str(k)): v for k, v in (info.reward_breakdown or {}).items()}
    if info.info:
        out["info"] = info.info
    return out


class Tau2OfficialEvaluator:
    """Episode evaluator: tau2's own reward, reported as ``info["evaluations"]["tau2"]``."""

    name = "tau2"

    def __init__(self, nl_judge: bool = False):
        self.nl_judge = nl_judge

    async def evaluate(self, task: Task, messages: list[dict[str, Any]], session: Any = None) -> dict[str, Any]:
        end = getattr(session, "end_reason", None) or "user_done"
        return official_verdict(task, messages, session, end_reason=end, nl_judge=self.nl_judge)
