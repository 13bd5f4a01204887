"""Token usage and cost accounting per role, scoped to an episode.

The env opens a scope per episode step (``with track_usage(meter): ...``); every LLM request made inside it —
also from tasks spawned inside it — is added to that meter. A client can also be given a meter explicitly.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator


@dataclass
class RoleUsage:
    """Counters of one role."""

    calls: int = 0
    """Requests that reached a server and returned (cache hits excluded)."""
    cache_hits: int = 0
    """Requests answered by the persistent response cache."""
    memo_hits: int = 0
    """Requests avoided by an in-process memo (e.g. the simulator's group memo)."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    retries: int = 0
    """Retried HTTP attempts (timeouts, 429, 5xx, connection errors, malformed replies)."""
    malformed: int = 0
    """HTTP attempts answered 200 with a body that is not a chat completion (not JSON, no ``choices[0].message``,
    ``content`` not a string...): each is retried like a 5xx, and the request fails (``failures``) when none
    of its attempts gave a usable reply."""
    malformed_usage: int = 0
    """Replies kept whose ``usage`` block was unusable (e.g. ``prompt_tokens: "lots"`` or negative): their
    tokens and cost count as 0."""
    reasks: int = 0
    """Re-asks after output that was not valid JSON for the schema."""
    failures: int = 0
    """Requests that ended in a flagged failure."""
    cost: float = 0.0

    def add(self, other: "RoleUsage") -> None:
        for k, v in asdict(other).items():
            setattr(self, k, getattr(self, k) + v)


@dataclass
class UsageMeter:
    """Usage per role name (e.g. ``{"judge": RoleUsage(...), "simulator": ...}``)."""

    roles: dict[str, RoleUsage] = field(default_factory=dict)

    def role(self, name: str) -> RoleUsage:
        if name not in self.roles:
            self.roles[name] = RoleUsage()
        return self.roles[name]

    def merge(self, other: "UsageMeter") -> None:
        for name, ru in other.roles.items():
            self.role(name).add(ru)

    def total(self) -> RoleUsage:
        out = RoleUsage()
        for ru in self.roles.values():
            out.add(ru)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per-role counters plus a ``total`` entry."""
        out = {name: asdict(ru) for name, ru in sorted(self.roles.items())}
        if self.roles:
            out["total"] = asdict(self.total())
        return out

    def reset(self) -> None:
        self.roles.clear()


_CURRENT: contextvars.ContextVar[tuple[UsageMeter, ...]] = contextvars.ContextVar("cm2_usage_meters", default=())


@contextlib.contextmanager
def track_usage(meter: UsageMeter) -> Iterator[UsageMeter]:
    """Add every LLM request made in this context (and tasks created in it) to ``meter``. Scopes nest."""
    token = _CURRENT.set(_CURRENT.get() + (meter,))
    try:
        yield meter
    finally:
        _CURRENT.reset(token)


def active_meters(extra: UsageMeter | None = None) -> list[UsageMeter]:
    """The meters that should see a request: the context's scopes plus an explicit one (deduplicated)."""
    meters = list(_CURRENT.get())
    if extra is not None and all(m is not extra for m in meters):
        meters.append(extra)
    return meters


def record(role: str, extra: UsageMeter | None = None, **counts: float) -> None:
    """Add ``counts`` (RoleUsage field names) to every active meter under ``role``."""
    for meter in active_meters(extra):
        ru = meter.role(role)
        for k, v in counts.items():
            setattr(ru, k, getattr(ru, k) + v)
