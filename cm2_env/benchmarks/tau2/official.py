"""tau2's own verdict: ``tau2.evaluator.evaluator.evaluate_simulation`` on a ``SimulationRun`` of the episode.

The tau2 trajectory is built from the cm2 messages (system prompt left out, as tau2 keeps it out of
``SimulationRun.messages``) with the tool calls/results taken from the episode session's record of executed
calls (tau2's ``ToolMessage`` objects, so the evaluator's strict replay sees exactly the outputs the agent saw);
calls refused by cm2's validation never ran and are left out. Termination: the scripted/LLM user ending the
conversation (``user_done``) is tau2's ``user_stop``; limits map to ``max_steps``; anything else to
``agent_error`` (tau2 scores 0 unless the episode ended by agent or user stop).

Tasks whose ``reward_basis`` holds ``NL_ASSERTION`` and that have NL assertions need an LLM judge (an empty
list scores 1 in tau2 without one). With a judge (``nl_judge``: True for tau2's default model, or a config naming a
model behind an OpenAI-compatible base URL) tau2's own ``NLAssertionsEvaluator`` runs (its prompt, its JSON) and the
reward includes it; without one — or when the judge fails — they are flagged ``needs_llm`` with ``reward: None``,
never scored pass or fail, and ``reward_without_nl`` gives the product over the other bases.

The user's own tool calls (user-requestor actions: the scripted user's gold ones, an LLM user's) are put back in
the trajectory before the user message they preceded, and the user's stop message at the end, as in a tau2 run.
Tasks whose gold actions cannot satisfy their own env assertions are reported (``gold_infeasible``).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Any

from ...tasks.models import Task
from . import _tau2
from .executor import Tau2ToolSession, gold_reachable, tau2_meta, tau2_task

END_TO_TERMINATION = {"user_done": "user_stop", "agent_stop": "agent_stop", "max_steps_per_turn": "max_steps",
                      "max_turns": "max_steps", "user_error": "user_error"}


def tau2_messages(messages: list[dict[str, Any]], session: Tau2ToolSession | None) -> list[Any]:
    m = _tau2._import("tau2.data_model.message")
    executed = {} if session is None else {e.call_id: e for e in session.executed}
    out: list[Any] = []
    turn = 0
    user_events = {} if session is None else dict(getattr(session, "user_events", None) or {})
    n_user = 0
    if session is not None:  # tau2 keeps the task's prior conversation at the head of the simulation's messages
        init = tau2_task(session.task).initial_state
        out.extend(list((init.message_history or []) if init is not None else []))
    for msg in messages:
        role = msg.get("role")
        if role == "user":
            for ev in user_events.pop(n_user, []):  # the user's own tool calls before this message
                out.append(ev.model_copy(update={"turn_idx": turn}))
                turn += 1
            n_user += 1
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
    for k in sorted(user_events):  # user tool calls made while ending the conversation
        for ev in user_events[k]:
            out.append(ev.model_copy(update={"turn_idx": turn}))
            turn += 1
    stop = getattr(session, "user_stop", None) if session is not None else None
    if stop:  # the user's last message, holding tau2's stop token (as in a tau2 run)
        out.append(m.UserMessage(role="user", content=stop, turn_idx=turn))
    return out


def simulation_run(task: Task, messages: list[Any], termination: str):
    sim = _tau2._import("tau2.data_model.simulation")
    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    return sim.SimulationRun(id=uuid.uuid4().hex, task_id=str(tau2_task(task).id), start_time=now, end_time=now,
                             duration=0.0, termination_reason=sim.TerminationReason(termination), messages=messages)


_JUDGE_LOCK = threading.Lock()


def judge_settings(nl_judge: Any) -> tuple[str, dict[str, Any]] | None:
    """(litellm model, litellm args) for tau2's NL-assertion judge; None: no judge.

    ``True``: tau2's own default judge model (``tau2.config.DEFAULT_LLM_NL_ASSERTIONS``, provider keys from the
    environment); a dict (``LLMConfig``-shaped: ``model``, ``base_url``, ``api_key_env``, ``temperature``,
    ``num_retries``) or an ``LLMConfig``: that model behind that OpenAI-compatible base URL (``openai/<model>``).
    """
    if not nl_judge:
        return None
    cfg_mod = _tau2._import("tau2.config")
    if nl_judge is True:
        return cfg_mod.DEFAULT_LLM_NL_ASSERTIONS, dict(cfg_mod.DEFAULT_LLM_NL_ASSERTIONS_ARGS)
    d = nl_judge.model_dump() if hasattr(nl_judge, "model_dump") else dict(nl_judge)
    model = str(d.get("model") or cfg_mod.DEFAULT_LLM_NL_ASSERTIONS)
    args: dict[str, Any] = dict(cfg_mod.DEFAULT_LLM_NL_ASSERTIONS_ARGS)
    if d.get("temperature") is not None:
        args["temperature"] = d["temperature"]
    if d.get("base_url"):
        model = model if model.startswith("openai/") else "openai/" + model
        args["api_base"] = d["base_url"]
        key_env = d.get("api_key_env")
        args["api_key"] = (os.environ.get(key_env) if key_env else None) or "EMPTY"
    retries = d.get("num_retries", d.get("retries"))
    if retries is not None:
        args["num_retries"] = int(retries)
    return model, args


@contextmanager
def _judge_model(settings: tuple[str, dict[str, Any]] | None):
    """Point tau2's ``NLAssertionsEvaluator`` (which reads two module globals) at the configured judge."""
    if settings is None:
        yield
        return
    mod = _tau2._import("tau2.evaluator.evaluator_nl_assertions")
    with _JUDGE_LOCK:
        old = mod.DEFAULT_LLM_NL_ASSERTIONS, mod.DEFAULT_LLM_NL_ASSERTIONS_ARGS
        mod.DEFAULT_LLM_NL_ASSERTIONS, mod.DEFAULT_LLM_NL_ASSERTIONS_ARGS = settings
        try:
            yield
        finally:
            mod.DEFAULT_LLM_NL_ASSERTIONS, mod.DEFAULT_LLM_NL_ASSERTIONS_ARGS = old


def _without_nl(t: Any) -> Any:
    judged = t.model_copy(deep=True)
    judged.evaluation_criteria.reward_basis = [
        b for b in judged.evaluation_criteria.reward_basis if getattr(b, "value", b) != "NL_ASSERTION"]
    return judged


def official_verdict(task: Task, messages: list[dict[str, Any]], session: Any = None, *,
                     end_reason: str | None = "user_done", nl_judge: Any = False) -> dict[str, Any]:
    """tau2's ``evaluate_simulation`` on the episode (see the module docstring). ``nl_judge``: see
    :func:`judge_settings`; a judge fault leaves the task unscored (``reward: None``, ``judge_error``)."""
    ev = _tau2._import("tau2.evaluator.evaluator")
    meta = tau2_meta(task)
    t = tau2_task(task)
    _tau2.use_cached_constructor(meta["domain"])  # tau2 builds the env 3x per evaluation: copies, not re-parses
    termination = END_TO_TERMINATION.get(end_reason or "", "agent_error")
    sess = session if isinstance(session, Tau2ToolSession) else None
    run = simulation_run(task, tau2_messages(messages, sess), termination)
    needs_llm = bool(meta.get("needs_llm"))
    judge = judge_settings(nl_judge) if needs_llm else None
    out: dict[str, Any] = {"task_id": t.id, "domain": meta["domain"], "termination_reason": termination,
                           "needs_llm": needs_llm, "reward_basis": meta.get("reward_basis")}
    if sess is not None and sess.user_stop:
        out["user_stop"] = sess.user_stop[:200]
    if sess is not None and sess.user_executed:
        out["user_tool_calls"] = [e.name for e in sess.user_executed]
    feasible, why = gold_reachable(task)
    if not feasible:
        out["gold_infeasible"] = why
    info = None
    if judge is not None:
        try:
            with _judge_model(judge):
                info = ev.evaluate_simulation(run, t, ev.EvaluationType.ALL, False, meta["domain"])
            out["judge"] = judge[0]
        except Exception as e:  # noqa: BLE001 - a judge fault is reported; the task stays unscored
            out["judge_error"] = f"{type(e).__name__}: {str(e)[:300]}"
    if info is not None:
        out["reward"] = float(info.reward)
        if info.nl_assertions is not None:
            out["nl_assertions"] = [{"assertion": c.nl_assertion, "met": bool(c.met), "justification": c.justification}
                                    for c in info.nl_assertions]
    else:
        info = ev.evaluate_simulation(run, _without_nl(t) if needs_llm else t, ev.EvaluationType.ALL, False,
                                      meta["domain"])
        out["reward"] = None if needs_llm else float(info.reward)
        if needs_llm:
            out["reward_without_nl"] = float(info.reward)
            out["note"] = ("NL_ASSERTION in reward_basis and " + ("the LLM judge failed" if judge is not None else
                           "no LLM judge configured") + ": needs judge, not scored")
    out["db_match"] = None if info.db_check is None else bool(info.db_check.db_match)
    out["reward_breakdown"] = {getattr(k, "value", str(k)): v for k, v in (info.reward_breakdown or {}).items()}
    if info.info:
        out["info"] = info.info
    return out


class Tau2OfficialEvaluator:
    """Episode evaluator: tau2's own reward, reported as ``info["evaluations"]["tau2"]``."""

    name = "tau2"

    def __init__(self, nl_judge: Any = False):
        self.nl_judge = nl_judge

    async def evaluate(self, task: Task, messages: list[dict[str, Any]], session: Any = None) -> dict[str, Any]:
        end = getattr(session, "end_reason", None) or "user_done"
        if self.nl_judge and tau2_meta(task).get("needs_llm"):  # the judge is an HTTP call: off the event loop
            return await asyncio.to_thread(official_verdict, task, messages, session, end_reason=end,
                                           nl_judge=self.nl_judge)
        return official_verdict(task, messages, session, end_reason=end, nl_judge=self.nl_judge)
