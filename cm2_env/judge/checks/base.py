"""The check-type seam: a check type is a pydantic model (its task-file spec) plus a decide function.

A type is registered once (``@register_check(MyCheck)`` on its decide function); the task model parses a
checklist item's ``check`` through this registry and the task JSON Schema is built from it, so an adapter adds
check types from its own module without touching core files. A decide function reads a :class:`CheckContext`
(read-only: the task, the turn's messages, earlier history, the calls refused by validation and the episode's
tool session) and returns a :class:`CheckOutcome`; the rule engine turns that into a verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict

from ...parsing import strip_think
from ...plugins import discover_plugins

if TYPE_CHECKING:
    from ...tasks.models import Task


class CheckSpec(BaseModel):
    """Base of every check type's spec: the ``type`` field names the registered type."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: str
    tool_fields: ClassVar[tuple[str, ...]] = ()
    """Fields naming a task tool (``*`` or None = none in particular); the loader checks they exist."""


class CheckOutcome(NamedTuple):
    """What a decide function returns."""

    passed: bool
    step: int | None
    """Message index within the turn (0 = user message) where the item was satisfied, if any."""
    rationale: str


@dataclass(frozen=True)
class CallView:
    """One assistant tool call of the turn."""

    step: int
    name: str
    arguments: dict[str, Any] | None
    """Parsed arguments; None when they do not parse into an object."""
    call_id: str


@dataclass(frozen=True)
class ResultView:
    """One tool message of the turn."""

    step: int
    name: str
    """Name of the tool that answered (from the message, else from the call it answers)."""
    content: str


@dataclass(frozen=True)
class ReplyView:
    """One assistant message of the turn, as the user sees it."""

    step: int
    text: str
    """User-visible text (thinking stripped)."""
    final: bool
    """The message has no tool calls (it ends the turn)."""


@dataclass(frozen=True)
class TurnView:
    """A turn's messages digested once for every check of the turn."""

    calls: tuple[CallView, ...] = ()
    results: tuple[ResultView, ...] = ()
    replies: tuple[ReplyView, ...] = ()

    @classmethod
    def of(cls, messages: list[dict[str, Any]]) -> "TurnView":
        calls: list[CallView] = []
        results: list[ResultView] = []
        replies: list[ReplyView] = []
        names: dict[str, str] = {}
        for step, m in enumerate(messages):
            role = m.get("role")
            if role == "assistant":
                tcs = m.get("tool_calls") or []
                for tc in tcs:
                    fn = tc.get("function") or {}
                    cid, name = tc.get("id") or "", fn.get("name") or ""
                    calls.append(CallView(step, name, _arguments(fn.get("arguments")), cid))
                    names[cid] = name
                replies.append(ReplyView(step, strip_think(m.get("content")), not tcs))
            elif role == "tool":
                name = m.get("name") or names.get(m.get("tool_call_id") or "", "")
                results.append(ResultView(step, name, m.get("content") or ""))
        return cls(tuple(calls), tuple(results), tuple(replies))


def _arguments(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except (json.JSONDecodeError, RecursionError):
            return None
    return raw if isinstance(raw, dict) else None


@dataclass(frozen=True)
class CheckContext:
    """What a check may read to decide one item of one turn. Checks must not mutate any of it."""

    task: "Task"
    turn: int
    """Index of the user turn being judged."""
    turn_messages: list[dict[str, Any]]
    """The turn's messages: [user, assistant, tool, ..., assistant]; index = step."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """All messages before this turn (system first)."""
    rejected_call_ids: frozenset[str] = frozenset()
    """Ids of this turn's calls the env refused (unknown tool, malformed, schema violation): attempted, never run."""
    session: Any = None
    """The episode's tool session (its state), for outcome checks; None when judged without one."""

    @cached_property
    def view(self) -> TurnView:
        return TurnView.of(self.turn_messages)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The whole conversation up to the end of this turn."""
        return [*self.history, *self.turn_messages]

    @property
    def last_step(self) -> int:
        return max(len(self.turn_messages) - 1, 0)


Decide = Callable[[Any, CheckContext], CheckOutcome]


@dataclass(frozen=True)
class CheckType:
    """A registered check type."""

    name: str
    model: type[CheckSpec]
    decide: Decide


class CheckRegistry:
    """Check types by name. Registering a name twice (with another model or function) is an error."""

    def __init__(self) -> None:
        self._types: dict[str, CheckType] = {}
        self.version = 0
        """Bumped on every registration (caches of the derived schema key on it)."""

    def register(self, model: type[CheckSpec], decide: Decide) -> CheckType:
        field_ = model.model_fields.get("type")
        name = field_.default if field_ is not None else None
        if not isinstance(name, str) or not name:
            raise TypeError(f"{model.__name__}: a check model needs `type: Literal[NAME] = NAME`")
        entry = CheckType(name, model, decide)
        old = self._types.get(name)
        if old is not None:
            if _same(old.model, model) and _same(old.decide, decide):
                return old  # the same module imported again (e.g. reloaded): nothing changes
            raise ValueError(
                f"check type {name!r} is already registered by {_where(old.decide)}; pick another name"
            )
        self._types[name] = entry
        self.version += 1
        return entry

    def get(self, name: str) -> CheckType:
        if name not in self._types:
            discover_plugins()
        try:
            return self._types[name]
        except KeyError:
            raise KeyError(f"unknown check type {name!r}; known: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return sorted(self._types)

    def types(self) -> list[CheckType]:
        discover_plugins()
        return [self._types[n] for n in sorted(self._types)]

    def parse(self, value: Any) -> CheckSpec:
        """A check spec (dict) → the registered model instance (pydantic errors propagate, located)."""
        if isinstance(value, CheckSpec):
            return value
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            raise ValueError("a check must be an object with a string `type`")
        return self.get(value["type"]).model.model_validate(value)


def _same(a: Any, b: Any) -> bool:
    return a is b or _where(a) == _where(b)


def _where(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


CHECKS = CheckRegistry()
"""Every check type: the built-in ones, each benchmark's, and any registered by user code."""


def register_check(model: type[CheckSpec]) -> Callable[[Decide], Decide]:
    """Decorator on a decide function: ``@register_check(MyCheck)``."""

    def deco(decide: Decide) -> Decide:
        CHECKS.register(model, decide)
        return decide

    return deco
