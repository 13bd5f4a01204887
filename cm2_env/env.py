"""ToolTaskEnv: one multi-turn tool-use episode of a task, with checklist rewards.

The agent acts as the assistant. A step whose action carries tool calls gets the tool messages back; a step
without tool calls ends the assistant's turn: the env judges the turn and the user side speaks next (or the
episode ends). ``areset``/``astep`` are the native (async) API; ``reset``/``step`` drive them on a private
event loop so scripts, notebooks and ``check_env`` work unchanged.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import gymnasium as gym

from .components import build_roles
from .judge.base import Judge, TurnJudgeRequest
from .judge.policy import JudgingPolicy
from .judge.scoring import TurnResult, score_turn, trajectory_score
from .llm.usage import UsageMeter, track_usage
from .loop_runner import LoopRunner
from .parsing import PARSERS, ParsedAction, safe_text
from .records import EpisodeError, EpisodeSummary, StepInfo, ToolCallRecord
from .spaces import AssistantAction, ChatMessages
from .tasks import resolve_tasks, select_tasks
from .tasks.models import Task
from .tools.base import EpisodeEvaluator, ToolBackend, ToolSession
from .tools.validation import ToolSet, error_result
from .types import ToolCall, ToolResult, UserReply
from .users.base import UserSession, UserSimulator

RewardLevel = Literal["trajectory", "turn"]
TRUNCATING_ENDS = frozenset({"max_steps_per_turn", "max_turns"})
"""End reasons that are limits (Gymnasium ``truncated``); every other end is ``terminated``."""
logger = logging.getLogger("cm2_env")
_WARNED: set[tuple[str, str]] = set()


@dataclass
class Episode:
    """Mutable state of the running episode."""

    task: Task
    tools: ToolSet
    """Validators of the tools available in the current turn."""
    visible_tools: list[dict[str, Any]]
    """Schemas of the tools available in the current turn (what the agent is shown)."""
    tool_session: ToolSession
    user_session: UserSession
    group_key: str | None
    messages: list[dict[str, Any]] = field(default_factory=list)
    turn: int = 0
    turn_start: int = 1
    """Index in ``messages`` of the current turn's user message."""
    steps_in_turn: int = 0
    turn_results: list[TurnResult] = field(default_factory=list)
    errors: list[EpisodeError] = field(default_factory=list)
    tool_log: list[ToolCallRecord] = field(default_factory=list)
    rejected_calls: set[str] = field(default_factory=set)
    """Ids of calls refused by validation in the current turn (they never ran)."""
    end_reason: str | None = None
    session_closed: bool = False
    summary: EpisodeSummary | None = None
    """Set when the episode ends."""
    usage: UsageMeter = field(default_factory=UsageMeter)
    """LLM calls/tokens/cost of this episode's simulator, user and judge, per role."""

    @property
    def done(self) -> bool:
        return self.summary is not None


class ToolTaskEnv(gym.Env):
    """A multi-turn tool-use task with a simulated user, simulated/executed tools and checklist rewards."""

    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(
        self,
        tasks: str | Sequence[Task] | None = "starter",
        task_selector: str | None = None,
        tool_backend: ToolBackend | str | dict | None = "offline",
        user: UserSimulator | str | dict | None = "scripted",
        judge: Judge | str | dict | None = None,
        reward_level: RewardLevel = "trajectory",
        dependence_gating: bool = True,
        early_stop: bool = True,
        end_on_tool_error: bool = False,
        max_steps_per_turn: int = 16,
        max_turns: int | None = None,
        parser: str = "hermes",
        evaluators: Sequence[EpisodeEvaluator] = (),
        render_mode: str | None = None,
    ):
        """
        Args:
            tasks: bundled suite name, task-file path, or a sequence of Task.
            task_selector: id globs / ``domain:NAME`` terms restricting the tasks (see ``select_tasks``).
            tool_backend: the tool simulator/executor (instance, registry name or ``{"name": ..., **kw}``).
            user: the user side (``scripted`` replays the task's user turns; ``llm`` simulates one).
            judge: judge for items WITHOUT a programmatic check (None: such items are reported unjudged); items
                with a check are always decided by the rule engine (see ``cm2_env.judge.policy``).
            reward_level: ``trajectory`` (score once at the end) or ``turn`` (turn score at each turn end).
            dependence_gating: an item counts only if the items it depends on passed.
            early_stop: end the episode after a turn in which a ``required_for_next_turn`` item failed.
            end_on_tool_error: end the episode at the first tool error (CM2's behaviour); default: the
                error is shown to the agent, which may recover.
            max_steps_per_turn: assistant steps allowed in one turn before truncation.
            max_turns: user turns allowed before truncation (None: until the user side stops; the LLM user
                bounds itself by its own ``max_turns`` or the task's).
            parser: how raw model text is parsed (``hermes``).
            evaluators: extra end-of-episode verdicts (e.g. a benchmark's official checker).
        """
        if reward_level not in ("trajectory", "turn"):
            raise ValueError(f"reward_level must be 'trajectory' or 'turn', got {reward_level!r}")
        if parser not in PARSERS:
            raise ValueError(f"unknown parser {parser!r}; known: {', '.join(PARSERS)}")
        self.tasks = select_tasks(resolve_tasks(tasks), task_selector)
        self._by_id = {t.id: t for t in self.tasks}
        roles = build_roles({"tool_backend": tool_backend, "user": user, "judge": judge})
        self.tool_backend: ToolBackend = roles["tool_backend"]
        self.user_simulator: UserSimulator = roles["user"]
        self.judge: Judge | None = roles["judge"]
        self.judging = JudgingPolicy(self.judge)
        self.reward_level = reward_level
        self.dependence_gating = dependence_gating
        self.early_stop = early_stop
        self.end_on_tool_error = end_on_tool_error
        self.max_steps_per_turn = max_steps_per_turn
        self.max_turns = max_turns
        self.parse = PARSERS[parser]
        self.evaluators = list(evaluators)
        self.render_mode = render_mode
        self.observation_space = ChatMessages()
        self.action_space = AssistantAction(sorted({n for t in self.tasks for n in t.tool_names}))
        self._toolsets: dict[tuple[str, tuple[str, ...]], tuple[list[dict[str, Any]], ToolSet]] = {}
        self._runner = LoopRunner()
        self._ep: Episode | None = None


    # ------------------------------------------------------------------ public properties

    @property
    def task(self) -> Task | None:
        return self._ep.task if self._ep else None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self._ep.messages) if self._ep else []

    @property
    def usage(self) -> UsageMeter | None:
        """LLM usage of the current episode's simulator, user and judge."""
        return self._ep.usage if self._ep else None

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The tools available to the agent now."""
        return self._ep.visible_tools if self._ep else []

    @property
    def summary(self) -> EpisodeSummary | None:
        """The summary of the current episode once it has ended (None while it runs)."""
        return self._ep.summary if self._ep else None

    # ------------------------------------------------------------------ sync API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        return self._runner.run(self.areset(seed=seed, options=options))

    def step(self, action: Any):
        return self._runner.run(self.astep(action))

    def finish(self, reason: str = "stopped") -> EpisodeSummary:
        """Sync twin of :meth:`afinish`."""
        return self._runner.run(self.afinish(reason))

    def close(self) -> None:
        if self._ep is not None:
            self._close_session(self._ep)
        self._runner.close()

    # ------------------------------------------------------------------ async API

    async def areset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        if self._ep is not None:
            self._close_session(self._ep)
        task = self._pick_task(options)
        group_key = options.get("group_key")
        ep_seed = None if seed is None else int(seed)
        visible, toolset = self._toolset(task, 0)
        ep = self._ep = Episode(
            task=task,
            tools=toolset,
            visible_tools=visible,
            tool_session=self.tool_backend.session(task, group_key=group_key, seed=ep_seed),
            user_session=self.user_simulator.session(task, seed=ep_seed),
            group_key=group_key,
        )
        self._begin_turn(ep)
        ep.messages.append({"role": "system", "content": task.system_prompt})
        errors: list[EpisodeError] = []
        with track_usage(ep.usage):
            first = await self._user_says(ep, None, 0, errors)
        if first is None or first.content is None:
            errors.append(EpisodeError("user_error", "the user side produced no opening message"))
        ep.messages.append({"role": "user", "content": "" if first is None else first.content or ""})
        ep.errors.extend(errors)
        info = {
            "task_id": task.id,
            "domain": task.domain,
            "group_key": group_key,
            "tools": ep.visible_tools,
            "num_turns": len(task.turns),
            "turn": 0,
            "errors": [e.to_dict() for e in errors],
        }
        return list(ep.messages), info

    async def astep(self, action: Any):
        ep = self._ep
        if ep is None:
            raise RuntimeError("call reset() before step()")
        if ep.summary is not None:
            info = {**ep.summary.to_dict(),
                    "errors": [EpisodeError("episode_finished", "step() after the episode ended").to_dict()]}
            return list(ep.messages), 0.0, True, False, info
        with track_usage(ep.usage):
            step = StepInfo(ep.task.id, ep.turn, ep.steps_in_turn + 1)
            start = len(ep.messages)
            parsed = self._parse(ep, action, step)
            ep.messages.append(parsed.to_message())
            ep.steps_in_turn += 1
            if parsed.tool_calls:
                end = await self._run_tools(ep, parsed.tool_calls, step)
            else:
                end = await self._advance_turn(ep, step)
            turn_reward = self.reward_level == "turn" and step.turn_result is not None
            reward = (step.turn_result.score or 0.0) if turn_reward else 0.0
            ep.errors.extend(step.errors)
            step.tools = ep.visible_tools
            step.new_messages = ep.messages[start + 1:]
            if end is not None:
                ep.end_reason = end
                step.summary = await self._finish(ep)
                if self.reward_level == "trajectory":
                    reward = step.summary.score or 0.0
        terminated = end is not None and end not in TRUNCATING_ENDS
        truncated = end in TRUNCATING_ENDS
        return list(ep.messages), float(reward), terminated, truncated, step.to_dict()

    async def afinish(self, reason: str = "stopped") -> EpisodeSummary:
        """End the running episode now (e.g. a trainer's token budget ran out) and return its summary.

        The turn in progress is judged if the assistant acted in it; unreached turns count 0. Calling it on a
        finished episode returns that episode's summary.
        """
        ep = self._ep
        if ep is None:
            raise RuntimeError("call reset() before afinish()")
        if ep.summary is not None:
            return ep.summary
        with track_usage(ep.usage):
            if ep.steps_in_turn > 0:
                await self._judge_turn(ep)
            ep.end_reason = reason
            return await self._finish(ep)

    # ------------------------------------------------------------------ a step

    def _parse(self, ep: Episode, action: Any, step: StepInfo) -> ParsedAction:
        call_prefix = f"call_{ep.turn}_{ep.steps_in_turn}"
        try:
            parsed = self.parse(action, call_prefix)
        except Exception as e:  # parsers must not crash an episode on odd input
            step.errors.append(EpisodeError("parse_error", safe_text(f"{type(e).__name__}: {e}", 500)))
            parsed = ParsedAction(content=safe_text(action))  # cannot raise: no second parse of the same input
        return parsed

    async def _run_tools(self, ep: Episode, calls: list[ToolCall], step: StepInfo) -> str | None:
        """Answer the step's calls; returns an end reason when the step ends the episode."""
        records = []
        for call, result in zip(calls, await self._execute_calls(ep, calls)):
            ep.messages.append({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": result.content})
            records.append(ToolCallRecord(call.id, call.name, result.source, result.error, dict(result.meta)))
            if result.error:
                step.errors.append(EpisodeError.from_tool(result.error, _error_message(result), call.name, call.id))
        ep.tool_log.extend(records)
        step.tool_results = records
        if self.end_on_tool_error and any(r.error for r in records):
            step.turn_result = await self._judge_turn(ep)
            return "tool_error"
        if ep.steps_in_turn >= self.max_steps_per_turn:
            step.turn_result = await self._judge_turn(ep)
            return "max_steps_per_turn"
        return None

    async def _advance_turn(self, ep: Episode, step: StepInfo) -> str | None:
        """The assistant's turn ended: judge it, then the user speaks (or the episode ends: its reason)."""
        result = step.turn_result = await self._judge_turn(ep)
        if self.early_stop and result.required_failed:
            step.early_stop = {"turn": result.turn, "items": result.required_failed}
            return "early_stop"
        if self.max_turns is not None and ep.turn + 1 >= self.max_turns:
            return "max_turns"
        reply = await self._user_says(ep, ep.messages, ep.turn + 1, step.errors)
        if reply is None or reply.done or reply.content is None:
            return "user_error" if reply is None or reply.meta.get("error") else "user_done"
        ep.turn += 1
        ep.steps_in_turn = 0
        ep.rejected_calls.clear()  # call ids are only unique within a turn
        self._begin_turn(ep)
        ep.turn_start = len(ep.messages)
        ep.messages.append({"role": "user", "content": reply.content})
        return None

    async def _execute_calls(self, ep: Episode, calls: list[ToolCall]) -> list[ToolResult]:
        """One result per call of the step, in order; an adapter whose benchmark runs a message's calls as one
        batch (e.g. ToolSandbox tries parallel calls in every order) overrides this."""
        return [await self._run_call(ep, call) for call in calls]

    async def _run_call(self, ep: Episode, call: ToolCall) -> ToolResult:
        try:
            rejected = ep.tools.check(call)
        except Exception as e:  # the task's own schema is broken (e.g. an unresolvable $ref): flag the task
            rejected = error_result("task_error", f"the tool schema of {call.name!r} cannot be checked: "
                                    f"{safe_text(f'{type(e).__name__}: {e}', 500)}", tool=call.name)
        if rejected is not None:
            ep.rejected_calls.add(call.id)
            return rejected
        try:
            return await ep.tool_session.call(call)
        except Exception as e:  # a backend bug or outage is data, not a crash
            return ToolResult(
                json.dumps({"error": "tool_backend_error", "message": f"{type(e).__name__}: {e}"}),
                source="backend",
                error="tool_backend_error",
            )

    async def _user_says(self, ep: Episode, messages: list[dict[str, Any]] | None, next_turn: int,
                         errors: list[EpisodeError]) -> UserReply | None:
        try:
            if messages is None:
                reply = await ep.user_session.first_message()
            else:
                reply = await ep.user_session.reply(list(messages), next_turn)
        except Exception as e:
            errors.append(EpisodeError("user_error", f"{type(e).__name__}: {e}"))
            return None
        if reply.meta.get("error"):
            errors.append(EpisodeError("user_error", str(reply.meta["error"])))
        return reply

    async def _judge_turn(self, ep: Episode) -> TurnResult:
        """Judge and score the current turn."""
        items = ep.task.turns[ep.turn].checklist if ep.turn < len(ep.task.turns) else []
        request = TurnJudgeRequest(ep.task, ep.turn, items, ep.messages[ep.turn_start:], ep.messages[: ep.turn_start],
                                   frozenset(ep.rejected_calls), ep.tool_session)
        judged = await self.judging.judge_turn(request)
        ep.errors.extend(judged.errors)
        result = score_turn(ep.turn, items, judged.verdicts, self.dependence_gating)
        ep.turn_results.append(result)
        return result

    # ------------------------------------------------------------------ the end of an episode

    async def _finish(self, ep: Episode) -> EpisodeSummary:
        reached = len(ep.turn_results)
        unreached = sum(1 for t in ep.task.turns[reached:] if any(self.judging.judgeable(it) for it in t.checklist))
        evaluations = await self._evaluate(ep)
        self._close_session(ep)
        summary = EpisodeSummary(
            task_id=ep.task.id,
            score=trajectory_score(ep.turn_results, unreached),
            turns=list(ep.turn_results),
            num_turns=len(ep.task.turns),
            end_reason=ep.end_reason,
            errors=list(ep.errors),
            tool_calls=list(ep.tool_log),
            evaluations=evaluations,
            usage=ep.usage.to_dict(),
        )
        summary.warnings.extend(_warnings(summary))
        for w in summary.warnings:
            if (ep.task.id, w) not in _WARNED:  # once per task and message, not once per episode
                _WARNED.add((ep.task.id, w))
                logger.warning("[%s] %s", ep.task.id, w)
        ep.summary = summary
        return summary

    async def _evaluate(self, ep: Episode) -> dict[str, Any]:
        """End-of-episode verdicts of the evaluators (a failing one is recorded, never raised)."""
        out: dict[str, Any] = {}
        for ev in self.evaluators:
            try:
                out[ev.name] = await ev.evaluate(ep.task, list(ep.messages), ep.tool_session)
            except Exception as e:
                out[ev.name] = {"error": f"{type(e).__name__}: {e}"}
                ep.errors.append(EpisodeError("evaluator_error", f"{ev.name}: {type(e).__name__}: {e}"))
        return out

    def _close_session(self, ep: Episode) -> None:
        if ep.session_closed:
            return
        ep.session_closed = True
        try:
            ep.tool_session.close()
        except Exception as e:
            ep.errors.append(EpisodeError("tool_backend_error", f"close failed: {e}"))

    # ------------------------------------------------------------------ tasks and tools

    def _pick_task(self, options: dict[str, Any]) -> Task:
        if "task_id" in options:
            tid = options["task_id"]
            if tid not in self._by_id:
                raise KeyError(f"unknown task_id {tid!r} ({len(self.tasks)} tasks in this env)")
            return self._by_id[tid]
        if "task_index" in options:
            return self.tasks[int(options["task_index"]) % len(self.tasks)]
        return self.tasks[int(self.np_random.integers(len(self.tasks)))]

    def _toolset(self, task: Task, turn: int = 0) -> tuple[list[dict[str, Any]], ToolSet]:
        """The tools available in ``turn`` and their validators (built once per distinct tool list)."""
        tools = task.tools_for_turn(turn)
        key = (task.id, tuple(t["function"]["name"] for t in tools))
        ts = self._toolsets.get(key)
        if ts is None:
            ts = self._toolsets[key] = (tools, ToolSet(tools))
        return ts

    def _begin_turn(self, ep: Episode) -> None:
        """Per-turn tool availability: refresh the validators and tell the session (optional hook)."""
        ep.visible_tools, ep.tools = self._toolset(ep.task, ep.turn)
        begin = getattr(ep.tool_session, "begin_turn", None)
        if callable(begin):
            begin(ep.turn)

    # ------------------------------------------------------------------ rendering

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        lines = []
        for m in self._ep.messages if self._ep else []:
            text = m.get("content") or ""
            if m.get("tool_calls"):
                text += " " + " ".join(f"[{tc['function']['name']}({tc['function']['arguments']})]" for tc in m["tool_calls"])
            lines.append(f"{m['role']:>9}: {text}")
        return "\n".join(lines)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-serialisable record of the current episode (for logs)."""
        ep = self._ep
        if ep is None:
            return {}
        done = ep.summary.to_dict() if ep.summary is not None else {}
        return {"task_id": ep.task.id, "messages": copy.deepcopy(ep.messages), **done}


def _warnings(summary: EpisodeSummary) -> list[str]:
    out = []
    counts = summary.counts()
    if counts["unjudged"]:
        out.append(f"{counts['unjudged']} checklist item(s) unjudged (no check, no LLM judge): excluded from the score")
    if counts["error"]:
        out.append(f"{counts['error']} checklist item(s) could not be judged (judge error): excluded")
    if summary.score is None:
        out.append("no checklist item could be judged: the episode has no score (reward 0)")
    return out


def _error_message(result: ToolResult) -> str:
    try:
        body = json.loads(result.content)
        return str(body.get("message") or body.get("error") or result.content)
    except (json.JSONDecodeError, AttributeError, RecursionError):
        return result.content
