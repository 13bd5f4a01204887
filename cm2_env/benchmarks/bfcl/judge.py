"""Checklist judge for BFCL tasks: the rule judge for items with a ``check`` plus the per-turn state items.

A state item (``extra_info.bfcl_check == "state"``) passes when, after the turn, the episode's class instances
equal the ground truth's (bfcl-eval's ``state_checker``). The judge needs no access to the live tool session: it
re-executes the calls the episode really executed (:func:`.episode.executed_calls`, turns 0..t) on fresh
instances — the classes are deterministic (seeded ``random.Random`` per instance) — so the verdict is the same
whether the env judges at each turn end or once at the end of the episode.
"""

from __future__ import annotations

from collections import OrderedDict
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


def _replay(task: Task, calls: list[tuple[str, dict[str, Any]]]) -> BFCLInstances:
    inst = BFCLInstances.for_task(task)
    for name, args in calls:
        inst.execute(name, args)
    return inst


class _GroundTruthStates:
    """Ground-truth instances after turn t, per task (small LRU; the instances are only read)."""

    def __init__(self, size: int = 64):
        self.size = size
        self._cache: OrderedDict[tuple[str, int], BFCLInstances] = OrderedDict()

    def get(self, task: Task, turn: int) -> BFCLInstances:
        key = (task.id, turn)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        inst = BFCLInstances.for_task(task)
        for gt_turn in bfcl_meta(task)["ground_truth"][: turn + 1]:
            for text in gt_turn:
                parsed = parse_call(text)
                method = inst.method(parsed.name)
                inst.execute(parsed.name, bind_arguments(parsed, method) if method else dict(parsed.kwargs))
        self._cache[key] = inst
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return inst


def state_matches(task: Task, messages: list[dict[str, Any]], turn: int,
                  gt_states: _GroundTruthStates | None = None) -> tuple[bool, str]:
    """Does the state after ``turn`` (replaying the episode's executed calls) equal the ground truth's?"""
    turns = executed_calls(task, messages)[: turn + 1]
    model = _replay(task, [c for t in turns for step in t for c in step])
    gt = (gt_states or _GroundTruthStates(1)).get(task, turn)
    result = _bfcl.checker_module().state_checker(model.instances, gt.instances)
    if result.get("valid"):
        return True, "state equals the ground-truth state after this turn"
    diff = result.get("details", {}).get("differences", {})
    return False, f"{result.get('error_message', 'state mismatch')} Differing attributes: {sorted(diff)}"


@JUDGES.register("bfcl")
class BFCLJudge:
    """Rule judge + BFCL state items. ``inner``: the judge for every other item (default: rule judge)."""

    def __init__(self, inner: Any = None, cache_size: int = 64):
        self.inner = inner if inner is not None else RuleJudge()
        self._gt = _GroundTruthStates(cache_size)

    async def judge_turn(self, request: TurnJudgeRequest) -> dict[str, Verdict]:
        state_items = [it for it in request.items if it.extra_info.get("bfcl_check") == "state"]
        others = [it for it in request.items if it.extra_info.get("bfcl_check") != "state"]
        verdicts: dict[str, Verdict] = {}
        if others:
            verdicts.update(await self.inner.judge_turn(TurnJudgeRequest(
                request.task, request.turn_index, others, request.turn_messages, request.history)))
        if not state_items:
            return verdicts
        messages = list(request.history) + list(request.turn_messages)
        last_step = max(len(request.turn_messages) - 1, 0)
        try:
            ok, why = state_matches(request.task, messages, request.turn_index, self._gt)
            status = "passed" if ok else "failed"
        except Exception as e:  # noqa: BLE001 - errors are data
            status, why = "error", f"state check failed to run: {type(e).__name__}: {e}"
        for item in state_items:
            verdicts[item.id] = Verdict(item.id, status, last_step if status == "passed" else None, why, "bfcl_state")
        return verdicts
