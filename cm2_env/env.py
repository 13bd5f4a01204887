"""ToolTaskEnv: one multi-turn tool-use episode of a task, with checklist rewards.

The agent acts as the assistant. A step whose action carries tool calls gets the tool messages back; a step
without tool calls ends the assistant's turn: the env judges the turn and the user side speaks next (or the
episode ends). ``areset``/``astep`` are the native (async) API; ``reset``/``step`` drive them on a private
event loop so scripts, notebooks and ``check_env`` work unchanged.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import gymnasium as gym

from .backends import JUDGES, TOOL_BACKENDS, USER_SIMULATORS
from .judge.base import Judge, TurnJudgeRequest
from .llm.usage import UsageMeter, track_usage
from .judge.rule import RuleJudge
from .judge.scoring import TurnResult, score_turn, trajectory_score
from .parsing import PARSERS
from .spaces import AssistantAction, ChatMessages
from .tasks.models import Task
from .tasks.suites import resolve_tasks, select_tasks
from .tools.base import EpisodeEvaluator, ToolBackend, ToolSession
from .tools.validation import ToolSet
from .types import ToolCall, ToolResult, Verdict
from .users.base import UserSession, UserSimulator

RewardLevel = Literal["trajectory", "turn"]
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
    errors: list[dict[str, Any]] = field(default_factory=list)
    tool_log: list[dict[str, Any]] = field(default_factory=list)
    rejected_calls: set[str] = field(default_factory=set)
    """Ids of calls refused by validation (they never ran)."""
    done: bool = False
    end_reason: str | None = None
    final_info: dict[str, Any] = field(default_factory=dict)
    usage: UsageMeter = field(default_factory=UsageMeter)
    """LLM calls/tokens/cost of this episode's simulator, user and judge, per role."""


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Finalise async generators (LLM clients close their HTTP pools that way), then close the loop."""
    if loop.is_closed() or loop.is_running():
        return
    try:
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


class _LoopRunner:
    """Runs coroutines to completion from sync code, on a private loop (or a thread if one is running)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finalizer: weakref.finalize | None = None

    def run(self, coro: Any) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is None or self._loop.is_closed():
                self._loop = asyncio.new_event_loop()
                # an env nobody closes still releases its loop (and the HTTP pools bound to it)
                self._finalizer = weakref.finalize(self, _close_loop, self._loop)
            return self._loop.run_until_complete(coro)
        # called from inside a running loop (e.g. Jupyter): run on a helper thread's own loop
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = asyncio.run(coro)
            except BaseException as e:  # re-raised in the caller's thread
                box["error"] = e

        t = threading.Thread(target=target)
        t.start()
        t.join()
        if "error" in box:
            raise box["error"]
        return box["value"]

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()


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
            judge: judge for items WITHOUT a programmatic check (None: such items are reported unjudged).
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
        self.tool_backend: ToolBackend = TOOL_BACKENDS.build(tool_backend)
        self.user_simulator: UserSimulator = USER_SIMULATORS.build(user)
        self.judge: Judge | None = JUDGES.build(judge)
        self.rule_judge = RuleJudge()
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
        self._runner = _LoopRunner()
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

    # ------------------------------------------------------------------ sync API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        return self._runner.run(self.areset(seed=seed, options=options))

    def step(self, action: Any):
        return self._runner.run(self.astep(action))

    def close(self) -> None:
        if self._ep is not None:
            self._close_episode(self._ep)
        self._runner.close()

    # ------------------------------------------------------------------ async API

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

    async def areset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        if self._ep is not None:
            self._close_episode(self._ep)
        task = self._pick_task(options)
        group_key = options.get("group_key")
        ep_seed = None if seed is None else int(seed)
        visible, toolset = self._toolset(task, 0)
        ep = Episode(
            task=task,
            tools=toolset,
            visible_tools=visible,
            tool_session=self.tool_backend.session(task, group_key=group_key, seed=ep_seed),
            user_session=self.user_simulator.session(task, seed=ep_seed),
            group_key=group_key,
        )
        self._ep = ep
        self._begin_turn(ep)
        ep.messages.append({"role": "system", "content": task.system_prompt})
        with track_usage(ep.usage):
            first = await self._user_call(ep, None, 0)
        if first is None or first.content is None:
            ep.errors.append({"type": "user_error", "message": "the user side produced no opening message"})
            ep.messages.append({"role": "user", "content": ""})
        else:
            ep.messages.append({"role": "user", "content": first.content})
        info = {
            "task_id": task.id,
            "domain": task.domain,
            "group_key": group_key,
            "tools": ep.visible_tools,
            "num_turns": len(task.turns),
            "turn": 0,
            "errors": list(ep.errors),
        }
        return list(ep.messages), info

    async def astep(self, action: Any):
        ep = self._ep
        if ep is None:
            raise RuntimeError("call reset() before step()")
        with track_usage(ep.usage):
            return await self._astep(ep, action)

    async def _astep(self, ep: Episode, action: Any):
        if ep.done:
            info = {**ep.final_info, "errors": [{"type": "episode_finished", "message": "step() after the episode ended"}]}
            return list(ep.messages), 0.0, True, False, info
        step_errors: list[dict[str, Any]] = []
        try:
            parsed = self.parse(action, f"call_{ep.turn}_{ep.steps_in_turn}")
        except Exception as e:  # parsers must not crash an episode on odd input
            step_errors.append({"type": "parse_error", "message": f"{type(e).__name__}: {e}"})
            parsed = self.parse(str(action), f"call_{ep.turn}_{ep.steps_in_turn}")
        start = len(ep.messages)
        ep.messages.append(parsed.to_message())
        ep.steps_in_turn += 1
        reward = 0.0
        terminated = truncated = False
        info: dict[str, Any] = {"task_id": ep.task.id, "turn": ep.turn, "step": ep.steps_in_turn}

        if parsed.tool_calls:
            records = []
            for call in parsed.tool_calls:
                result = await self._run_call(ep, call)
                ep.messages.append(
                    {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": result.content}
                )
                rec = {"id": call.id, "name": call.name, "source": result.source, "error": result.error, **result.meta}
                records.append(rec)
                if result.error:
                    step_errors.append({"type": result.error, "tool": call.name, "call_id": call.id,
                                        "message": _error_message(result)})
            ep.tool_log.extend(records)
            info["tool_results"] = records
            if self.end_on_tool_error and any(r["error"] for r in records):
                terminated = True
                reward += await self._end_turn(ep, info)
                ep.end_reason = "tool_error"
            elif ep.steps_in_turn >= self.max_steps_per_turn:
                truncated = True
                reward += await self._end_turn(ep, info)
                ep.end_reason = "max_steps_per_turn"
        else:
            reward += await self._end_turn(ep, info)
            last = ep.turn_results[-1]
            if self.early_stop and last.required_failed:
                terminated = True
                ep.end_reason = "early_stop"
                info["early_stop"] = {"turn": last.turn, "items": last.required_failed}
            elif self.max_turns is not None and ep.turn + 1 >= self.max_turns:
                truncated = True
                ep.end_reason = "max_turns"
            else:
                reply = await self._user_call(ep, ep.messages, ep.turn + 1)
                if reply is None or reply.done or reply.content is None:
                    terminated = True
                    failed = reply is None or bool(reply.meta.get("error"))
                    ep.end_reason = "user_error" if failed else "user_done"
                else:
                    ep.turn += 1
                    ep.steps_in_turn = 0
                    ep.rejected_calls.clear()  # call ids are only unique within a turn
                    self._begin_turn(ep)
                    ep.turn_start = len(ep.messages)
                    ep.messages.append({"role": "user", "content": reply.content})

        ep.errors.extend(step_errors)
        info["errors"] = step_errors
        info["tools"] = ep.visible_tools
        info["new_messages"] = ep.messages[start + 1:]
        if terminated or truncated:
            final = await self._finish(ep)
            info.update(final)
            if self.reward_level == "trajectory":
                reward = final["score"] or 0.0
        return list(ep.messages), float(reward), terminated, truncated, info

    async def afinish(self, reason: str = "stopped") -> dict[str, Any]:
        """End the running episode now (e.g. a trainer's token budget ran out) and return the final info.

        The turn in progress is judged if the assistant acted in it; unreached turns count 0. Calling it on a
        finished episode returns that episode's final info.
        """
        ep = self._ep
        if ep is None:
            raise RuntimeError("call reset() before afinish()")
        if ep.done:
            return dict(ep.final_info)
        with track_usage(ep.usage):
            if ep.steps_in_turn > 0:
                await self._end_turn(ep, {})
            ep.end_reason = reason
            return dict(await self._finish(ep))

    def finish(self, reason: str = "stopped") -> dict[str, Any]:
        """Sync twin of :meth:`afinish`."""
        return self._runner.run(self.afinish(reason))

    # ------------------------------------------------------------------ internals

    async def _run_call(self, ep: Episode, call: ToolCall) -> ToolResult:
        rejected = ep.tools.check(call)
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

    async def _user_call(self, ep: Episode, messages: list[dict[str, Any]] | None, next_turn: int):
        try:
            if messages is None:
                reply = await ep.user_session.first_message()
            else:
                reply = await ep.user_session.reply(list(messages), next_turn)
        except Exception as e:
            ep.errors.append({"type": "user_error", "message": f"{type(e).__name__}: {e}"})
            return None
        if reply.meta.get("error"):
            ep.errors.append({"type": "user_error", "message": str(reply.meta["error"])})
        return reply

    def _judgeable(self, item) -> bool:
        return item.check is not None or self.judge is not None

    async def _judge(self, ep: Episode, turn: int, turn_messages: list[dict[str, Any]]) -> dict[str, Verdict]:
        items = ep.task.turns[turn].checklist if turn < len(ep.task.turns) else []
        history = ep.messages[: ep.turn_start]
        rule_items = [it for it in items if it.check is not None]
        llm_items = [it for it in items if it.check is None]
        rejected = frozenset(ep.rejected_calls)
        verdicts = self.rule_judge.judge_sync(
            TurnJudgeRequest(ep.task, turn, rule_items, turn_messages, history, rejected)
        )
        if llm_items:
            if self.judge is None:
                for it in llm_items:
                    verdicts[it.id] = Verdict(it.id, "unjudged", None, "no programmatic check and no LLM judge", "none")
            else:
                try:
                    got = await self.judge.judge_turn(
                        TurnJudgeRequest(ep.task, turn, llm_items, turn_messages, history, rejected)
                    )
                except Exception as e:
                    got = {}
                    ep.errors.append({"type": "judge_error", "message": f"{type(e).__name__}: {e}"})
                for it in llm_items:
                    verdicts[it.id] = got.get(it.id) or Verdict(it.id, "error", None, "judge returned no verdict", "llm")
        return {it.id: verdicts[it.id] for it in items}

    async def _end_turn(self, ep: Episode, info: dict[str, Any]) -> float:
        """Judge the current turn; returns the turn-mode reward."""
        turn_messages = ep.messages[ep.turn_start:]
        items = ep.task.turns[ep.turn].checklist if ep.turn < len(ep.task.turns) else []
        verdicts = await self._judge(ep, ep.turn, turn_messages)
        result = score_turn(ep.turn, items, verdicts, self.dependence_gating)
        ep.turn_results.append(result)
        info["turn_result"] = result.to_dict()
        return (result.score or 0.0) if self.reward_level == "turn" else 0.0

    async def _finish(self, ep: Episode) -> dict[str, Any]:
        ep.done = True
        reached = len(ep.turn_results)
        unreached = sum(
            1 for t in ep.task.turns[reached:] if any(self._judgeable(it) for it in t.checklist)
        )
        score = trajectory_score(ep.turn_results, unreached)
        verdicts = [r.to_dict() for r in ep.turn_results]
        all_v = [v for r in ep.turn_results for v in r.verdicts.values()]
        unjudged = [f"t{r.turn}:{v.item_id}" for r in ep.turn_results for v in r.verdicts.values() if v.status == "unjudged"]
        judge_errors = [f"t{r.turn}:{v.item_id}" for r in ep.turn_results for v in r.verdicts.values() if v.status == "error"]
        warns = []
        if unjudged:
            warns.append(f"{len(unjudged)} checklist item(s) unjudged (no check, no LLM judge): excluded from the score")
        if judge_errors:
            warns.append(f"{len(judge_errors)} checklist item(s) could not be judged (judge error): excluded")
        if score is None:
            warns.append("no checklist item could be judged: the episode has no score (reward 0)")
        for w in warns:
            if (ep.task.id, w) not in _WARNED:  # once per task and message, not once per episode
                _WARNED.add((ep.task.id, w))
                logger.warning("[%s] %s", ep.task.id, w)
        evaluations = {}
        for ev in self.evaluators:
            try:
                evaluations[ev.name] = await ev.evaluate(ep.task, list(ep.messages), ep.tool_session)
            except Exception as e:
                evaluations[ev.name] = {"error": f"{type(e).__name__}: {e}"}
        ep.final_info = {
            "score": score,
            "turn_scores": [r.score for r in ep.turn_results],
            "verdicts": verdicts,
            "counts": {s: sum(v.status == s for v in all_v) for s in ("passed", "failed", "unjudged", "error")},
            "unjudged": unjudged,
            "judge_errors": judge_errors,
            "warnings": warns,
            "end_reason": ep.end_reason,
            "turns_completed": reached,
            "num_turns": len(ep.task.turns),
            "episode_errors": list(ep.errors),
            "tool_calls": list(ep.tool_log),
            "evaluations": evaluations,
            "usage": ep.usage.to_dict(),
        }
        self._close_episode(ep)
        return ep.final_info

    def _close_episode(self, ep: Episode) -> None:
        try:
            ep.tool_session.close()
        except Exception as e:
            ep.errors.append({"type": "tool_backend_error", "message": f"close failed: {e}"})

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
        return {"task_id": ep.task.id, "messages": copy.deepcopy(ep.messages), **ep.final_info}


def _error_message(result: ToolResult) -> str:
    try:
        body = json.loads(result.content)
        return str(body.get("message") or body.get("error") or result.content)
    except (json.JSONDecodeError, AttributeError):
        return result.content
