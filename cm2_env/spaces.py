"""Gymnasium spaces for chat: observations are OpenAI-format message lists, actions assistant messages."""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np
from gymnasium.spaces import Space

ROLES = ("system", "user", "assistant", "tool")
_ALPHABET = list("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789.,?!{}[]\":<>/")


def _random_text(rng: np.random.Generator, max_len: int = 40) -> str:
    n = int(rng.integers(0, max_len))
    return "".join(rng.choice(_ALPHABET, size=n)) if n else ""


def valid_message(m: Any) -> bool:
    if not isinstance(m, dict) or m.get("role") not in ROLES:
        return False
    content = m.get("content")
    if content is not None and not isinstance(content, str):
        return False
    if m["role"] == "assistant":
        tcs = m.get("tool_calls")
        if tcs is not None:
            if not isinstance(tcs, list):
                return False
            for tc in tcs:
                fn = tc.get("function") if isinstance(tc, dict) else None
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                    return False
                if not isinstance(fn.get("arguments"), str):
                    return False
    elif m["role"] == "tool":
        if not isinstance(m.get("tool_call_id"), str) or content is None:
            return False
    elif content is None:
        return False
    return True


class ChatMessages(Space[list]):
    """A conversation: a list of OpenAI-format messages (system, user, assistant, tool)."""

    def __init__(self, max_messages: int | None = None, seed: int | None = None):
        super().__init__(shape=None, dtype=None, seed=seed)
        self.max_messages = max_messages

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def contains(self, x: Any) -> bool:
        if not isinstance(x, list) or (self.max_messages is not None and len(x) > self.max_messages):
            return False
        return all(valid_message(m) for m in x)

    def sample(self, mask: Any = None, probability: Any = None) -> list:
        rng = self.np_random
        msgs: list[dict[str, Any]] = [{"role": "system", "content": _random_text(rng)}]
        for i in range(int(rng.integers(1, 4))):
            msgs.append({"role": "user", "content": _random_text(rng)})
            msgs.append({"role": "assistant", "content": _random_text(rng)})
        return msgs

    def to_jsonable(self, sample_n: Sequence[list]) -> list:
        return [json.loads(json.dumps(s)) for s in sample_n]

    def from_jsonable(self, sample_n: list) -> list:
        return list(sample_n)

    def __repr__(self) -> str:
        return "ChatMessages()"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, ChatMessages) and other.max_messages == self.max_messages


class AssistantAction(Space[Any]):
    """An assistant turn step: raw model text, or an OpenAI-format assistant message dict."""

    def __init__(self, tool_names: Sequence[str] = (), seed: int | None = None):
        super().__init__(shape=None, dtype=None, seed=seed)
        self.tool_names = list(tool_names)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def contains(self, x: Any) -> bool:
        if isinstance(x, str):
            return True
        return isinstance(x, dict) and valid_message({"role": "assistant", **x})

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        rng = self.np_random
        text = _random_text(rng)
        if self.tool_names and rng.random() < 0.5:
            name = str(rng.choice(self.tool_names))
            text += f'\n<tool_call>{{"name": "{name}", "arguments": {{}}}}</tool_call>'
        return text

    def __repr__(self) -> str:
        return "AssistantAction()"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, AssistantAction)
