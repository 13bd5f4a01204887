"""The perturbed agent: the reference with seeded faults, to check that rewards punish real mistakes."""

from __future__ import annotations

import copy
import json
import random
import zlib
from typing import Any

from cm2_env.tasks.models import Task

from .base import to_hermes_text
from .reference import ReferenceAgent

FAULTS = ("wrong_argument", "skip_call", "unknown_tool", "malformed_json", "premature_final")


def _corrupt(value: Any, rng: random.Random) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + rng.choice([1, 7, 100]) if isinstance(value, int) else round(value * 1.5 + 1, 2)
    if isinstance(value, str):
        return value[::-1] + "x" if value else "x"
    if isinstance(value, list):
        return value[:-1] if value else ["x"]
    if isinstance(value, dict):
        return {}
    return "x"


class PerturbedAgent(ReferenceAgent):
    """Replays the reference, and at each step with tool calls injects a fault with probability ``fault_rate``.

    Faults: a wrong argument value, a skipped call, a call to an unknown tool, malformed call JSON, a
    premature final answer (the turn's final reply before its tool work is done). Output is raw text, so
    malformed JSON reaches the env's parser as a model's would.
    """

    def __init__(self, fault_rate: float = 0.5, faults: tuple[str, ...] = FAULTS, seed: int = 0):
        super().__init__(as_text=True)
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {FAULTS}")
        self.fault_rate = fault_rate
        self.faults = tuple(faults)
        self.base_seed = seed
        self.rng = random.Random(seed)
        self.injected: list[dict[str, Any]] = []

    def reset(self, task: Task, seed: int | None = None) -> None:
        super().reset(task, seed)
        mix = zlib.crc32(f"{self.base_seed}:{seed}:{task.id}".encode())
        self.rng = random.Random(mix)
        self.injected = []

    async def act(self, observation: list[dict[str, Any]], info: dict[str, Any]) -> str | dict[str, Any]:
        script = self._sync_turn(observation)
        msg = self.next_message(observation)
        if not msg.get("tool_calls") or self.rng.random() >= self.fault_rate:
            return self.render(msg)
        fault = self.rng.choice(self.faults)
        self.injected.append({"turn": self._turn, "step": self._pos - 1, "fault": fault})
        msg = copy.deepcopy(msg)
        calls = msg["tool_calls"]
        k = self.rng.randrange(len(calls))
        if fault == "premature_final":
            finals = [m for m in script if not m.get("tool_calls")]
            self._pos = len(script)
            return self.render({"role": "assistant", "content": (finals[-1].get("content") if finals else "Done.")})
        if fault == "skip_call":
            del calls[k]
            if not calls:  # nothing left in this step: go straight to the next scripted message
                return await self.act(observation, info) if self._pos < len(script) else "Done."
            return self.render(msg)
        if fault == "unknown_tool":
            calls[k]["function"]["name"] += "_v2"
            return self.render(msg)
        if fault == "wrong_argument":
            args = json.loads(calls[k]["function"].get("arguments") or "{}")
            if args:
                key = self.rng.choice(sorted(args))
                args[key] = _corrupt(args[key], self.rng)
            else:
                args = {"unexpected": "x"}
            calls[k]["function"]["arguments"] = json.dumps(args)
            return self.render(msg)
        # malformed_json: the model's text for the call loses its closing braces and a quote
        text = to_hermes_text(msg)
        broken = text.replace('"arguments": {', '"arguments": {"', 1).replace("}\n</tool_call>", "\n</tool_call>", 1)
        return broken
