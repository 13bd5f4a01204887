"""Registries of the env's pluggable components, and the one table of the roles they fill.

An env takes, per role, an instance or a spec: a registered name (``"offline"``) or ``{"name": ..., **kwargs}``
(the shape Hydra/YAML configs produce). Built-in names are declared lazily below (``module:attr``, imported on
first use); a benchmark declares its own in its ``plugin.py``, which the registries discover on a miss, so a
name never depends on what happened to be imported first. Registering a name twice is an error.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from .plugins import discover_plugins

T = TypeVar("T")


class Registry:
    """Name → factory. ``lazy`` maps names to ``module:attr`` imported on first use."""

    def __init__(self, kind: str, lazy: dict[str, str] | None = None):
        self.kind = kind
        self._factories: dict[str, Callable[..., Any]] = {}
        self._lazy: dict[str, str] = {}
        for name, target in (lazy or {}).items():
            self.register_lazy(name, target)

    def _claim(self, name: str, what: str) -> None:
        """Refuse a second, different registration of ``name``."""
        old = self._lazy.get(name) or _where(self._factories.get(name))
        if old is not None and old != what:
            raise ValueError(f"{self.kind} {name!r} is already registered ({old}); pick another name")

    def register(self, name: str) -> Callable[[T], T]:
        def deco(factory: T) -> T:
            where = _where(factory)
            if self._lazy.get(name) != where:  # a lazy entry resolving to this very factory is fine
                self._claim(name, where)  # type: ignore[arg-type]
            self._factories[name] = factory  # type: ignore[assignment]
            return factory

        return deco

    def register_lazy(self, name: str, target: str) -> None:
        """Declare ``name`` as ``module:attr`` without importing the module."""
        if ":" not in target:
            raise ValueError(f"{self.kind} {name!r}: lazy target must be 'module:attr', got {target!r}")
        self._claim(name, target.replace(":", "."))
        self._lazy[name] = target.replace(":", ".")

    def names(self) -> list[str]:
        discover_plugins()
        return sorted(set(self._factories) | set(self._lazy))

    def get(self, name: str) -> Callable[..., Any]:
        if name not in self._factories and name not in self._lazy:
            discover_plugins()
        if name not in self._factories and name in self._lazy:
            module, _, attr = self._lazy[name].rpartition(".")
            self._factories[name] = getattr(importlib.import_module(module), attr)
        try:
            return self._factories[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}") from None

    def build(self, spec: Any) -> Any:
        """Instance passthrough; name or ``{"name": ..., **kwargs}`` → instance; None stays None."""
        if spec is None or (not isinstance(spec, (str, dict)) and not hasattr(spec, "keys")):
            return spec
        if isinstance(spec, str):
            return self.get(spec)()
        spec = dict(spec)
        name = spec.pop("name", None) or spec.pop("_name_", None)
        if not name:
            raise ValueError(f"{self.kind} spec needs a 'name': {spec}")
        return self.get(name)(**spec)


def _where(obj: Any) -> str | None:
    if obj is None:
        return None
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


TOOL_BACKENDS = Registry(
    "tool backend",
    lazy={"offline": "cm2_env.tools.offline:OfflineToolSimulator", "llm": "cm2_env.tools.llm_sim:LLMToolSimulator"},
)
USER_SIMULATORS = Registry(
    "user simulator",
    lazy={"scripted": "cm2_env.users.scripted:ScriptedUser", "llm": "cm2_env.users.llm_user:LLMUser"},
)
JUDGES = Registry(
    "judge",
    lazy={"rule": "cm2_env.judge.rule:RuleJudge", "llm": "cm2_env.judge.llm_judge:LLMJudge"},
)


@dataclass(frozen=True)
class Role:
    """One pluggable part of an episode: the env keyword that configures it and its registry."""

    kwarg: str
    registry: Registry
    doc: str


ROLES: tuple[Role, ...] = (
    Role("tool_backend", TOOL_BACKENDS, "answers the agent's tool calls (replay/synthetic, LLM simulator, real tools)"),
    Role("user", USER_SIMULATORS, "speaks the user turns (scripted replay or an LLM user)"),
    Role("judge", JUDGES, "decides checklist items without a programmatic check (an LLM judge; None: unjudged)"),
)
"""The roles, in the order an env builds them."""


def build_roles(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with every role spec present built into an instance (instances and None pass through)."""
    out = dict(kwargs)
    for role in ROLES:
        if role.kwarg in out:
            out[role.kwarg] = role.registry.build(out[role.kwarg])
    return out
