"""Name → factory registries for the env's pluggable parts (tool backends, user simulators, judges).

The env accepts either an instance or a spec: a name (``"offline"``) or a dict ``{"name": ..., **kwargs}``
(the shape Hydra/YAML configs produce). Modules register their implementations with the decorators below.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class Registry:
    """A small decorator registry; ``lazy`` maps names to ``module:attr`` imported on first use."""

    def __init__(self, kind: str, lazy: dict[str, str] | None = None):
        self.kind = kind
        self._factories: dict[str, Callable[..., Any]] = {}
        self._lazy = dict(lazy or {})

    def register(self, name: str) -> Callable[[T], T]:
        def deco(factory: T) -> T:
            self._factories[name] = factory  # type: ignore[assignment]
            return factory

        return deco

    def names(self) -> list[str]:
        return sorted(set(self._factories) | set(self._lazy))

    def get(self, name: str) -> Callable[..., Any]:
        if name not in self._factories and name in self._lazy:
            module, _, attr = self._lazy[name].partition(":")
            self._factories[name] = getattr(importlib.import_module(module), attr)
        try:
            return self._factories[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}") from None

    def build(self, spec: Any) -> Any:
        """Instance passthrough; name or {"name": ..., **kwargs} → instance."""
        if spec is None or (not isinstance(spec, (str, dict)) and not hasattr(spec, "keys")):
            return spec
        if isinstance(spec, str):
            return self.get(spec)()
        spec = dict(spec)
        name = spec.pop("name", None) or spec.pop("_name_", None)
        if not name:
            raise ValueError(f"{self.kind} spec needs a 'name': {spec}")
        return self.get(name)(**spec)


TOOL_BACKENDS = Registry(
    "tool backend",
    lazy={
        "offline": "cm2_env.tools.offline:OfflineToolSimulator",
        "llm": "cm2_env.tools.llm_sim:LLMToolSimulator",
        "bfcl": "cm2_env.benchmarks.bfcl.executor:BFCLToolExecutor",
    },
)
USER_SIMULATORS = Registry(
    "user simulator",
    lazy={"scripted": "cm2_env.users.scripted:ScriptedUser", "llm": "cm2_env.users.llm_user:LLMUser"},
)
JUDGES = Registry(
    "judge",
    lazy={"rule": "cm2_env.judge.rule:RuleJudge", "llm": "cm2_env.judge.llm_judge:LLMJudge"},
)
