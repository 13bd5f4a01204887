"""Configuration at the edge: Hydra/OmegaConf values, numpy scalars and ``key=value`` CLI pairs → plain Python.

Library code takes plain dicts and explicit arguments; everything that arrives from a config system or a command
line passes through here once.
"""

from __future__ import annotations

import json
from typing import Any


def to_plain(value: Any) -> Any:
    """OmegaConf containers (resolved), numpy scalars/arrays, tuples → plain dicts, lists and scalars."""
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True)
    except ImportError:
        pass
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalar or array
        try:
            return to_plain(value.tolist())
        except (TypeError, ValueError):
            return value
    if hasattr(value, "keys") and hasattr(value, "__getitem__") and not isinstance(value, (str, bytes)):
        return {k: to_plain(value[k]) for k in value.keys()}
    return value


def parse_kv(pairs: list[str], flag: str = "--env-arg") -> dict[str, Any]:
    """``key=value`` pairs → a dict; a value is parsed as JSON when it is JSON, else kept as text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"{flag} expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out
