"""BFCL's per-turn outcomes, decided by bfcl-eval's own checkers (behind the ``bfcl_state`` / ``bfcl_response``
check types of :mod:`.checks`):

* state: after the turn, the episode's class instances equal the ground truth's (``state_checker``);
* response: the ground-truth execution results of the turn are all among the episode's execution results so
  far (``response_checker``).

The calls the episode really executed (turns 0..t) are re-executed on fresh instances — the classes are
deterministic (seeded ``random.Random`` per instance) — so the verdict is the same whether the env judges at
each turn end or once at the end of the episode, and whether or not the live tool session is at hand (with it,
its exact record of executed calls is used; without, the calls are re-derived from the messages).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Sequence

from ...tasks.models import Task
from . import _bfcl
from .calls import bind_arguments, parse_call
from .episode import executed_calls
from .executor import BFCLInstances, bfcl_meta


def _replay(task: Task, calls: list[tuple[str, dict[str, Any]]]) -> tuple[BFCLInstances, list[str]]:
    inst = BFCLInstances.for_task(task)
    results = [inst.execute(name, args).content for name, args in calls]
    return inst, results


@dataclass
class _GroundTruth:
    after: BFCLInstances
    """Instances after the ground truth of turns 0..t."""
    results: list[str]
    """Execution results of turn t's ground-truth calls."""


class _GroundTruthStates:
    """Ground truth after turn t, per task (small LRU; the instances are only read)."""

    def __init__(self, size: int = 64):
        self.size = size
        self._cache: OrderedDict[tuple[str, int], _GroundTruth] = OrderedDict()

    def get(self, task: Task, turn: int) -> _GroundTruth:
        meta = bfcl_meta(task)
        key = (task.id, turn, json.dumps([meta["ground_truth"], meta["initial_config"]], sort_keys=True, default=str))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        inst = BFCLInstances.for_task(task)
        results: list[str] = []
        for gt_turn in bfcl_meta(task)["ground_truth"][: turn + 1]:
            results = []
            for text in gt_turn:
                parsed = parse_call(text)
                method = inst.method(parsed.name)
                args = bind_arguments(parsed, method) if method else dict(parsed.kwargs)
                results.append(inst.execute(parsed.name, args).content)
        gt = self._cache[key] = _GroundTruth(inst, results)
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return gt


GROUND_TRUTH = _GroundTruthStates()
"""Ground-truth states shared by every check of the process (they are only read)."""


def turn_outcome(task: Task, messages: list[dict[str, Any]], turn: int,
                 executed: Sequence[Any] | None = None) -> dict[str, tuple[bool, str]]:
    """``{"state": (ok, why), "response": (ok, why)}`` for ``turn``, replaying the episode's executed calls.

    ``executed``: a BFCL tool session's record of executed calls (exact); None re-derives them from ``messages``.
    """
    turns = executed_calls(task, messages, executed)[: turn + 1]
    model, model_results = _replay(task, [c for t in turns for step in t for c in step])
    gt = GROUND_TRUTH.get(task, turn)
    checker = _bfcl.checker_module()
    st = checker.state_checker(model.instances, gt.after.instances)
    if st.get("valid"):
        state = (True, "state equals the ground-truth state after this turn")
    else:
        diff = st.get("details", {}).get("differences", {})
        state = (False, f"{st.get('error_message', 'state mismatch')} Differing attributes: {sorted(diff)}")
    rs = checker.response_checker(model_results, gt.results, turn)
    if rs.get("valid"):
        response = (True, "every ground-truth result of this turn was obtained")
    else:
        missing = rs.get("details", {}).get("missing_items", [])
        shown = "; ".join(m[:120] for m in missing[:3])
        response = (False, f"{len(missing)} ground-truth result(s) never obtained: {shown}")
    return {"state": state, "response": response}


def state_matches(task: Task, messages: list[dict[str, Any]], turn: int) -> tuple[bool, str]:
    """Does the state after ``turn`` (replaying the episode's executed calls) equal the ground truth's?"""
    return turn_outcome(task, messages, turn)["state"]
