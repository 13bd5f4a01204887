"""The user side of a tau2 episode: scripted (offline), an LLM through ``cm2_env.llm``, or tau2's own simulator.

* ``Tau2ScriptedUser`` (``user="scripted"``): says the task's scripted turns (see :mod:`.loader`: opening from the
  scenario, confirmations before the first WRITE, "done" after its own actions) and performs the gold actions whose
  requestor is ``user`` on the user environment, in their gold order, before the turn they precede.
* ``Tau2LLMUser`` (``user="llm"``): an LLM through :mod:`cm2_env.llm` (role ``user``) whose system prompt is the one
  tau2's ``UserSimulator`` builds — tau2's own simulation guidelines, read at run time from the installed tau2's
  data dir (the ``_tools`` variant when the domain gives the user tools), with the task's ``user_scenario``. It sees
  the conversation with roles flipped as in tau2, may call the user tools (run on the episode's environment), and
  ends the episode when its message holds one of tau2's stop tokens (``###STOP###``, ``###TRANSFER###``,
  ``###OUT-OF-SCOPE###``, imported from tau2).
* ``Tau2NativeUser`` (``user="tau2"``): tau2's ``UserSimulator`` class itself (litellm), pointed at any
  OpenAI-compatible base URL (``openai/<model>`` with ``api_base``), for leaderboard-faithful runs.

User tool calls are recorded on the episode's :class:`.executor.Tau2ToolSession` (``user_events``), so tau2's
evaluator replays them; the stop message too (``user_stop``). A fault of the user model is data: the reply carries
``meta["error"]``, the env records a ``user_error`` and ends the episode (tau2 termination ``user_error``).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import KW_ONLY, dataclass
from typing import Any, Callable, ClassVar

from ...llm import LLMError
from ...llm.role import LLMRole
from ...tasks.models import Task
from ...types import UserReply
from . import _tau2
from .executor import Tau2ToolSession, tau2_meta, tau2_task

FIRST_AGENT_MESSAGE_FALLBACK = "Hi! How can I help you today?"


def stop_tokens() -> tuple[str, ...]:
    base = _tau2._import("tau2.user.user_simulator_base")
    return (base.STOP, base.TRANSFER, base.OUT_OF_SCOPE)


def first_agent_message() -> str:
    """The greeting tau2's orchestrator sends the user first (what the user model answers with its opening)."""
    try:
        msg = _tau2._import("tau2.orchestrator.orchestrator").DEFAULT_FIRST_AGENT_MESSAGE
        return msg.content or FIRST_AGENT_MESSAGE_FALLBACK
    except Exception:  # noqa: BLE001 - older/newer tau2 without the constant
        return FIRST_AGENT_MESSAGE_FALLBACK


def user_tools(session: Tau2ToolSession | None, task: Task) -> list[Any] | None:
    """The user tools tau2 would give its simulator for ``task`` (``Environment.get_user_tools(include=...)``)."""
    if session is None or not session.has_user_tools():
        return None
    try:
        return session.env.get_user_tools(include=tau2_task(task).user_tools) or None
    except Exception:  # noqa: BLE001 - as tau2's runner: no user tools when they cannot be listed
        return None


def tau2_user_system_prompt(task: Task, tools: list[Any] | None) -> str:
    """tau2's ``UserSimulator.system_prompt`` for this task: its guidelines file(s) + ``str(user_scenario)``."""
    us = _tau2._import("tau2.user.user_simulator")
    sim = us.UserSimulator(llm="unused", instructions=str(tau2_task(task).user_scenario), tools=tools)
    return sim.system_prompt


def visible_assistant_text(messages: list[dict[str, Any]]) -> str:
    """The assistant's reply the user sees at the end of a turn (tau2 drops tool-call messages from its view)."""
    out = []
    for m in reversed(messages):
        if m.get("role") == "user":
            break
        if m.get("role") == "assistant" and not m.get("tool_calls") and (m.get("content") or "").strip():
            out.append(m["content"])
    return "\n".join(reversed(out))


def found_stop(text: str | None) -> str | None:
    if not text:
        return None
    for tok in stop_tokens():
        if tok in text:
            return tok
    return None


class _BoundSession:
    """A user session that reaches its episode's tool session lazily (the env sets ``tool_session_of``)."""

    tool_session_of: Callable[[], Tau2ToolSession | None] = staticmethod(lambda: None)  # type: ignore[assignment]

    def __init__(self, task: Task):
        self.task = task
        self.user_turn = 0  # index of the cm2 user message being produced

    @property
    def tool_session(self) -> Tau2ToolSession | None:
        s = self.tool_session_of()
        return s if isinstance(s, Tau2ToolSession) else None

    def _stop(self, token: str, text: str | None = None, **meta: Any) -> UserReply:
        s = self.tool_session
        if s is not None:
            s.user_stop = text or token
        return UserReply(None, done=True, meta={"stop_token": token, **meta})


# ---------------------------------------------------------------------------------------------------- scripted


class Tau2ScriptedUserSession(_BoundSession):
    def __init__(self, task: Task):
        super().__init__(task)
        self.turns = [t.user for t in task.turns]
        self.turn_actions: list[list[int]] = list(tau2_meta(task).get("user_turn_actions") or [])

    async def first_message(self) -> UserReply:
        return await self.reply([], 0)

    async def reply(self, messages: list[dict[str, Any]], next_turn: int) -> UserReply:
        self.user_turn = next_turn
        err = self._act(next_turn)
        if next_turn >= len(self.turns):
            return self._stop(stop_tokens()[0], **({"error": err} if err else {}))
        text = self.turns[next_turn]
        if text is None:
            return UserReply(None, done=True, meta={"error": f"turn {next_turn} has no scripted user message"})
        return UserReply(text, meta={"error": err} if err else {})

    def _act(self, turn: int) -> str | None:
        """Perform the user-requestor gold actions scheduled before user message ``turn``."""
        idx = self.turn_actions[turn] if turn < len(self.turn_actions) else []
        if not idx:
            return None
        s = self.tool_session
        if s is None:
            return "the scripted tau2 user needs the episode's tau2 tool session for its user-side actions"
        actions = tau2_task(self.task).evaluation_criteria.actions
        for i in idx:
            a = actions[i]
            s.call_user_tool(a.name, a.arguments, f"user_{a.action_id}", turn)
        return None


class Tau2ScriptedUser:
    """Scripted user that also performs the task's user-side gold actions (an offline approximation)."""

    def session(self, task: Task, *, seed: int | None = None) -> Tau2ScriptedUserSession:
        return Tau2ScriptedUserSession(task)


# ---------------------------------------------------------------------------------------------------- cm2 LLM


class Tau2LLMUserSession(_BoundSession):
    def __init__(self, sim: "Tau2LLMUser", task: Task, seed: int | None):
        super().__init__(task)
        self.sim = sim
        self.seed = seed
        self.history: list[dict[str, Any]] | None = None  # the user model's view (roles flipped, as in tau2)
        self.tools: list[Any] | None = None

    def _start(self) -> None:
        if self.history is not None:
            return
        self.tools = user_tools(self.tool_session, self.task)
        self.history = [{"role": "system", "content": tau2_user_system_prompt(self.task, self.tools)}]
        init = tau2_task(self.task).initial_state
        prior = list((init.message_history or []) if init is not None else [])
        for m in prior:  # the prior conversation, flipped: the agent's texts are "user", the user's "assistant"
            if getattr(m, "role", None) == "assistant" and getattr(m, "content", None) and not m.is_tool_call():
                self.history.append({"role": "user", "content": m.content})
            elif getattr(m, "role", None) == "user" and getattr(m, "content", None):
                self.history.append({"role": "assistant", "content": m.content})

    async def first_message(self) -> UserReply:
        self._start()
        init = tau2_task(self.task).initial_state
        if not (init is not None and init.message_history):
            self.history.append({"role": "user", "content": first_agent_message()})
        return await self._generate(0)

    async def reply(self, messages: list[dict[str, Any]], next_turn: int) -> UserReply:
        self._start()
        self.history.append({"role": "user", "content": visible_assistant_text(messages)})
        return await self._generate(next_turn)

    async def _generate(self, turn: int) -> UserReply:
        self.user_turn = turn
        schemas = [t.openai_schema for t in self.tools] if self.tools else None
        for step in range(self.sim.max_tool_steps + 1):
            try:
                resp = await self.sim.client.chat(self.history, sample=0 if self.seed is None else int(self.seed) % 1000,
                                                  **({"tools": schemas} if schemas else {}))
            except LLMError as e:
                return UserReply(None, done=True, meta={"error": f"user_simulator_error: {e.kind}: {e.message[:300]}"})
            except Exception as e:  # noqa: BLE001 - a client bug is still a user-side fault, not a crash
                return UserReply(None, done=True,
                                 meta={"error": f"user_simulator_error: internal: {type(e).__name__}: {str(e)[:300]}"})
            calls = resp.meta.get("tool_calls") or []
            if calls and step < self.sim.max_tool_steps:
                err = self._run_calls(calls, turn, step)
                if err:
                    return UserReply(None, done=True, meta={"error": err})
                continue
            text = (resp.text or "").strip()
            tok = found_stop(text)
            self.history.append({"role": "assistant", "content": text})
            if tok is not None:
                return self._stop(tok, text, source="llm")
            if not text:
                return UserReply(None, done=True, meta={"error": "user_simulator_error: empty message"})
            return UserReply(text, meta={"source": "llm"})
        return UserReply(None, done=True, meta={"error": "user_simulator_error: too many user tool calls in a row"})

    def _run_calls(self, calls: list[Any], turn: int, step: int) -> str | None:
        s = self.tool_session
        if s is None or not self.tools:
            return "user_simulator_error: the user model called a tool but the domain gives the user none"
        self.history.append({"role": "assistant", "content": None, "tool_calls": calls})
        for i, c in enumerate(calls):
            fn = (c or {}).get("function") or {}
            cid = str((c or {}).get("id") or f"user_{turn}_{step}_{i}")
            try:
                args = json.loads(fn.get("arguments") or "{}")
                if not isinstance(args, dict):
                    raise ValueError("arguments are not an object")
            except ValueError as e:
                return f"user_simulator_error: bad user tool call arguments: {e}"
            msg = s.call_user_tool(str(fn.get("name")), args, cid, turn)
            self.history.append({"role": "tool", "tool_call_id": cid, "content": msg.content or ""})
        return None


@dataclass(eq=False)
class Tau2LLMUser(LLMRole):
    """tau2's user simulation (its guidelines, the task's scenario, its stop tokens) on a cm2 LLM client.

    Args:
        llm: role config of the user model (``LLMConfig`` fields / preset / ``LLMClient``).
        max_tool_steps: user tool calls in a row before the user must say something.
    """

    ROLE: ClassVar[str] = "user"
    _: KW_ONLY
    max_tool_steps: int = 8

    def session(self, task: Task, *, seed: int | None = None) -> Tau2LLMUserSession:
        return Tau2LLMUserSession(self, task, seed)


# ---------------------------------------------------------------------------------------------------- tau2's own


class Tau2NativeUserSession(_BoundSession):
    def __init__(self, sim: "Tau2NativeUser", task: Task, seed: int | None):
        super().__init__(task)
        self.sim = sim
        self.user = None
        self.state = None

    def _start(self) -> None:
        if self.user is not None:
            return
        us = _tau2._import("tau2.user.user_simulator")
        base = _tau2._import("tau2.user.user_simulator_base")
        tools = user_tools(self.tool_session, self.task)
        t = tau2_task(self.task)
        self.user = us.UserSimulator(llm=self.sim.litellm_model(), instructions=str(t.user_scenario), tools=tools,
                                     llm_args=self.sim.litellm_args())
        init = t.initial_state
        prior = [m for m in ((init.message_history or []) if init is not None else [])
                 if base.is_valid_user_history_message(m)]
        self.state = self.user.get_init_state(message_history=prior)

    async def first_message(self) -> UserReply:
        m = _tau2._import("tau2.data_model.message")
        self._start()
        return await self._answer(m.AssistantMessage(role="assistant", content=first_agent_message()), 0)

    async def reply(self, messages: list[dict[str, Any]], next_turn: int) -> UserReply:
        m = _tau2._import("tau2.data_model.message")
        self._start()
        return await self._answer(m.AssistantMessage(role="assistant", content=visible_assistant_text(messages)),
                                  next_turn)

    async def _answer(self, incoming: Any, turn: int) -> UserReply:
        m = _tau2._import("tau2.data_model.message")
        self.user_turn = turn
        for _ in range(self.sim.max_tool_steps + 1):
            try:
                msg, self.state = await asyncio.to_thread(self.user.generate_next_message, incoming, self.state)
            except Exception as e:  # noqa: BLE001 - litellm raises its own types for every server fault
                return UserReply(None, done=True,
                                 meta={"error": f"user_simulator_error: tau2: {type(e).__name__}: {str(e)[:300]}"})
            if msg.is_tool_call():
                s = self.tool_session
                if s is None:
                    return UserReply(None, done=True, meta={"error": "user_simulator_error: no tool session"})
                results = [s.call_user_tool(c.name, c.arguments, c.id, turn) for c in msg.tool_calls]
                incoming = results[0] if len(results) == 1 else m.MultiToolMessage(role="tool", tool_messages=results)
                continue
            text = (msg.content or "").strip()
            if self.user.is_stop(msg):
                return self._stop(found_stop(text) or "stop", text, source="tau2")
            if not text:
                return UserReply(None, done=True, meta={"error": "user_simulator_error: empty message"})
            return UserReply(text, meta={"source": "tau2"})
        return UserReply(None, done=True, meta={"error": "user_simulator_error: too many user tool calls in a row"})


@dataclass(eq=False)
class Tau2NativeUser:
    """tau2's ``UserSimulator`` behind an OpenAI-compatible server.

    Args:
        model: the model name on the server (sent as ``openai/<model>`` unless it already names a litellm
            provider, e.g. ``gpt-4.1`` with no base_url uses litellm's own routing).
        base_url: OpenAI-compatible base URL (``api_base``); None: litellm's default for the model.
        api_key_env: env var with the key (default: none, ``EMPTY`` is sent to a base URL).
        temperature: tau2's default user temperature is 0.0.
        num_retries: litellm retries (None: tau2's default).
        llm_args: extra litellm arguments.
    """

    model: str = ""
    _: KW_ONLY
    base_url: str | None = None
    api_key_env: str | None = None
    temperature: float | None = 0.0
    num_retries: int | None = None
    max_tool_steps: int = 8
    llm_args: dict[str, Any] | None = None
    llm: dict[str, Any] | None = None
    """An ``LLMConfig``-shaped dict (``base_url``, ``model``, ``api_key_env``) instead of the fields above."""

    def __post_init__(self) -> None:
        if self.llm:
            cfg = dict(self.llm)
            self.model = self.model or str(cfg.get("model") or "")
            self.base_url = self.base_url or cfg.get("base_url")
            self.api_key_env = self.api_key_env or cfg.get("api_key_env")
            if self.num_retries is None and cfg.get("retries") is not None:
                self.num_retries = int(cfg["retries"])
            if "temperature" in cfg:
                self.temperature = cfg["temperature"]
        if not self.model:
            raise ValueError("user=tau2 needs a model (and usually base_url) for tau2's UserSimulator")

    def litellm_model(self) -> str:
        if self.base_url and not self.model.startswith("openai/"):
            return "openai/" + self.model
        return self.model

    def litellm_args(self) -> dict[str, Any]:
        import os

        args: dict[str, Any] = {}
        if self.temperature is not None:
            args["temperature"] = self.temperature
        if self.base_url:
            args["api_base"] = self.base_url
            args["api_key"] = (os.environ.get(self.api_key_env) if self.api_key_env else None) or "EMPTY"
        elif self.api_key_env:
            args["api_key"] = os.environ.get(self.api_key_env)
        if self.num_retries is not None:
            args["num_retries"] = self.num_retries
        args.update(self.llm_args or {})
        return args

    def session(self, task: Task, *, seed: int | None = None) -> Tau2NativeUserSession:
        return Tau2NativeUserSession(self, task, seed)


USERS = {"scripted": Tau2ScriptedUser, "llm": Tau2LLMUser, "tau2": Tau2NativeUser,
         "tau2_scripted": Tau2ScriptedUser, "tau2_llm": Tau2LLMUser}


def build_user(spec: Any) -> Any:
    """``scripted`` / ``llm`` / ``tau2`` (or ``{"name": ..., **kw}``) → this adapter's user; anything else as is
    (the env's registry builds it: e.g. cm2's generic users, which then perform no user-side actions)."""
    if isinstance(spec, str) and spec in USERS:
        return USERS[spec]()
    if isinstance(spec, dict) or (hasattr(spec, "keys") and not isinstance(spec, str)):
        d = dict(spec)
        name = d.get("name") or d.get("_name_")
        if name in USERS:
            d.pop("name", None)
            d.pop("_name_", None)
            return USERS[name](**d)
    return spec


def bind(session: Any, getter: Callable[[], Any]) -> Any:
    if isinstance(session, _BoundSession):
        session.tool_session_of = getter  # type: ignore[assignment]
    return session
