"""Checklist judge for BFCL tasks: the rule judge for items with a ``check`` plus the per-turn outcome items.

* state item (``extra_info.bfcl_check == "state"``): after the turn, the episode's class instances equal the
  ground truth's (bfcl-eval's ``state_checker``);
* response item (``"response"``): the ground-truth execution results of the turn are all among the episode's
  execution results so far (bfcl-eval's ``response_checker``).

The judge needs no access to the live tool session: it re-executes the calls the episode really executed
(:func:`.episode.executed_calls`, turns 0..t) on fresh instances — the classes are deterministic (seeded
``random.Random`` per instance) — so the verdict is the same whether the env judges at each turn end or once
at the end of the episode.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ...backends import JUDGES
from ...judge.base import TurnJudgeRequest
from ...judge.rule import RuleJudge
from ...tasks.models import Task
from ...types import Verdict
from . import _bfcl
from .calls import bind_arguments, parse_call
from .episode import executed_calls
from .executor import BFCLInstances, bfcl_meta

OUTCOME_CHECKS = ("state", "response")


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
        key = (task.id, turn)
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


def turn_outcome(task: Task, messages: list[dict[str, Any]], turn: int,
                 gt_states: _GroundTruthStates | None = None) -> dict[str, tuple[bool, str]]:
    """``{"state": (ok, why), "response": (ok, why)}`` for ``turn``, replaying the episode's executed calls."""
    turns = executed_calls(task, messages)[: turn + 1]
    model, model_results = _replay(task, [c for t in turns for step in t for c in step])
    gt = (gt_states or _GroundTruthStates(1)).get(task, turn)
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


def state_matches(task: Task, messages: list[dict[str, Any]], turn: int,
                  gt_states: _GroundTruthStates | None = None) -> tuple[bool, str]:
    """Does the state after ``turn`` (replaying the episode's executed calls) equal the ground truth's?"""
    return turn_outcome(task, messages, turn, gt_states)["state"]


@JUDGES.register("bfcl")
class BFCLJudge:
    """Rule judge + BFCL outcome items. ``inner``: the judge for every other item (default: rule judge)."""

    def __init__(self, inner: Any = None, cache_size: int = 64):
        self.inner = inner if inner is not None else RuleJudge()
        self._gt = _GroundTruthStates(cache_size)

    async def judge_turn(self, request: TurnJudgeRequest) -> dict[str, Verdict]:
        outcome_items = [it for it in request.items if it.extra_info.get("bfcl_check") in OUTCOME_CHECKS]
        others = [it for it in request.items if it.extra_info.get("bfcl_check") not in OUTCOME_CHECKS]
        verdicts: dict[str, Verdict] = {}
        if others:
            verdicts.update(await self.inner.judge_turn(dataclasses.replace(request, items=others)))
        if not outcome_items:
            return verdicts
        messages = list(request.history) + list(request.turn_messages)
        last_step = max(len(request.turn_messages) - 1, 0)
        try:
            outcome = turn_outcome(request.task, messages, request.turn_index, self._gt)
        except Exception as e:  # noqa: BLE001 - errors are data
            why = f"outcome check failed to run: {type(e).__name__}: {e}"
            for item in outcome_items:
                verdicts[item.id] = Verdict(item.id, "error", None, why, "bfcl")
            return verdicts
        for item in outcome_items:
            ok, why = outcome[item.extra_info["bfcl_check"]]
            verdicts[item.id] = Verdict(item.id, "passed" if ok else "failed", last_step if ok else None, why,
                                        f"bfcl_{item.extra_info['bfcl_check']}")
        return verdicts
