"""CM2's advantage levels over a batch of rollouts: trajectory, turn and step (``cm2.advantage``).

Pure functions of the per-rollout credit record the agent loop writes into ``extra_fields["cm2_credit"]``
(:class:`RolloutCredit`) and the batch's ``response_mask``; they return one advantage per response token. All
baselines are per prompt group (verl's ``uid``); no standard-deviation normalisation (Dr.GRPO, CM2's setting).

* **trajectory** — A = score − mean of the group's scores, on every policy token (verl's GRPO outcome advantage
  with ``norm_adv_by_std_in_grpo=False``).
* **turn** — for turn position k, the baseline is the mean turn-k score over the group's rollouts that reached
  (and could score) turn k; A = r_k − mean_k on turn k's policy tokens (after the previous turn's last policy
  token, up to this turn's). Fewer than ``min_group`` qualifying rollouts: advantage 0 at that position (the
  reference code's rule was "≤ 4 → 0", i.e. ``min_group = 5``). Tokens after the last judged turn get 0.
* **step** — per checklist item of turn k: the item becomes *eligible* at the first assistant step after all
  its dependencies were completed (at the turn's first step if it has none); its rollout score is η^(steps from
  eligibility to completion) if it passed, 0 if it failed while eligible, and it is left out when it never
  became eligible (turn not reached, a dependency failed, unjudged/error verdicts). Baseline p = mean over the
  group's rollouts where it was eligible; with at least ``min_group`` of them, a passed item adds w·(score − p)
  to every step from eligibility through the step that completed it (η backfill), a failed one adds −w·p to
  every step from eligibility to the end of the turn; w is the item's weight. A step's advantage is the sum,
  written on that step's policy tokens.

This follows the authors' public code (``verl_v0.6.1_checklist``); deviations: groups are verl's per-prompt
``uid`` (they grouped step-level by the dataset index); rollouts with tool errors stay in the baselines (our
episodes recover from tool errors, theirs ended); an item that passed with no particular step (e.g.
``tool_not_called``) completes at its eligibility step; items judged ``unjudged``/``error`` are left out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

LEVELS = ("trajectory", "turn", "step")


@dataclass(frozen=True)
class Segment:
    """The policy tokens of one assistant message: response-token span ``[start, end)``."""

    turn: int
    message: int
    """Index of the assistant message within its turn (0 = the user message), as verdicts count steps."""
    start: int
    end: int


@dataclass(frozen=True)
class ItemResult:
    """One checklist item's verdict in one judged turn."""

    id: str
    weight: float
    status: str
    """passed / failed / unjudged / error."""
    message: int | None
    """Message index within the turn that satisfied it (None: no particular step)."""
    dependence: tuple[str, ...] = ()


@dataclass
class RolloutCredit:
    """What the advantage levels need of one rollout."""

    group: str
    """The prompt group (verl's ``uid``)."""
    score: float
    turn_scores: list[float | None] = field(default_factory=list)
    """Per judged turn; None when nothing in the turn could be judged."""
    turn_ends: list[int] = field(default_factory=list)
    """Response-token index of the last policy token of each judged turn."""
    segments: list[Segment] = field(default_factory=list)
    items: list[list[ItemResult]] = field(default_factory=list)
    """Per judged turn, its items."""

    @classmethod
    def from_record(cls, group: str, score: float, record: dict[str, Any]) -> "RolloutCredit":
        """From the agent loop's ``extra_fields["cm2_credit"]`` (plain JSON-able data)."""
        return cls(
            group=str(group),
            score=float(score),
            turn_scores=[None if s is None else float(s) for s in record.get("turn_scores", [])],
            turn_ends=[int(e) for e in record.get("turn_token_ends", [])],
            segments=[Segment(int(t), int(m), int(a), int(b)) for t, m, a, b in record.get("segments", [])],
            items=[[ItemResult(str(it["id"]), float(it["weight"]), str(it["status"]),
                               None if it.get("message") is None else int(it["message"]), tuple(it.get("dependence", ())))
                    for it in turn] for turn in record.get("items", [])],
        )


# ------------------------------------------------------------------------------------------ trajectory


def trajectory_advantages(rollouts: list[RolloutCredit], response_mask: np.ndarray) -> np.ndarray:
    scores = np.array([r.score for r in rollouts], dtype=np.float64)
    out = np.zeros(response_mask.shape, dtype=np.float64)
    for members in _groups(rollouts).values():
        mean = scores[members].mean()
        for i in members:
            out[i] = (scores[i] - mean) * response_mask[i]
    return out


# ------------------------------------------------------------------------------------------ turn


def turn_advantages(rollouts: list[RolloutCredit], response_mask: np.ndarray, min_group: int = 5) -> np.ndarray:
    out = np.zeros(response_mask.shape, dtype=np.float64)
    for members in _groups(rollouts).values():
        depth = max((len(rollouts[i].turn_scores) for i in members), default=0)
        for k in range(depth):
            qualified = [i for i in members if _turn_score(rollouts[i], k) is not None]
            if len(qualified) < min_group:
                continue
            mean = float(np.mean([_turn_score(rollouts[i], k) for i in qualified]))
            for i in qualified:
                lo, hi = _turn_span(rollouts[i], k)
                out[i, lo:hi] = (_turn_score(rollouts[i], k) - mean) * response_mask[i, lo:hi]
    return out


def _turn_score(r: RolloutCredit, k: int) -> float | None:
    if k >= len(r.turn_scores) or k >= len(r.turn_ends):
        return None
    return r.turn_scores[k]


def _turn_span(r: RolloutCredit, k: int) -> tuple[int, int]:
    """Response tokens of turn k: after the previous turn's last policy token, through this turn's."""
    lo = r.turn_ends[k - 1] + 1 if k > 0 else 0
    return lo, r.turn_ends[k] + 1


# ------------------------------------------------------------------------------------------ step


@dataclass(frozen=True)
class _Eligible:
    """One item of one rollout's turn: where it became eligible, where it completed, its score."""

    first: int
    """Assistant-step ordinal from which it was eligible."""
    last: int
    """The last ordinal that receives its credit (completion if passed, else the turn's last step)."""
    score: float


def step_advantages(rollouts: list[RolloutCredit], response_mask: np.ndarray, min_group: int = 5,
                    eta: float = 1.0) -> np.ndarray:
    out = np.zeros(response_mask.shape, dtype=np.float64)
    for members in _groups(rollouts).values():
        depth = max((len(rollouts[i].items) for i in members), default=0)
        for k in range(depth):
            per_rollout = {i: _eligibility(rollouts[i], k, eta) for i in members}
            totals = _step_totals(rollouts, per_rollout, min_group)
            for i, steps in totals.items():
                spans = _turn_segments(rollouts[i], k)
                for ordinal, value in steps.items():
                    seg = spans[ordinal]
                    out[i, seg.start:seg.end] += value * response_mask[i, seg.start:seg.end]
    return out


def _step_totals(rollouts: list[RolloutCredit], per_rollout: dict[int, dict[str, tuple[float, _Eligible]]],
                 min_group: int) -> dict[int, dict[int, float]]:
    """Per rollout, per step ordinal: the summed item credit of one turn position."""
    by_item: dict[str, list[float]] = defaultdict(list)
    for items in per_rollout.values():
        for item_id, (_, e) in items.items():
            by_item[item_id].append(e.score)
    totals: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for i, items in per_rollout.items():
        for item_id, (weight, e) in items.items():
            scores = by_item[item_id]
            if len(scores) < min_group:
                continue
            value = weight * (e.score - float(np.mean(scores)))  # a failed item (score 0): −w·p
            for ordinal in range(e.first, e.last + 1):
                totals[i][ordinal] += value
    return totals


def _turn_segments(r: RolloutCredit, k: int) -> list[Segment]:
    return sorted((s for s in r.segments if s.turn == k), key=lambda s: s.message)


def _eligibility(r: RolloutCredit, k: int, eta: float) -> dict[str, tuple[float, _Eligible]]:
    """The items of turn k that became eligible in this rollout: id → (weight, eligibility)."""
    if k >= len(r.items):
        return {}
    segments = _turn_segments(r, k)
    if not segments:
        return {}
    messages = [s.message for s in segments]
    items = {it.id: it for it in r.items[k]}
    done: dict[str, int | None] = {}  # item id → completion ordinal (None: never completed)

    def ordinal(message: int | None, floor: int) -> int:
        if message is None:
            return floor
        at = sum(1 for m in messages if m <= message) - 1  # a tool result belongs to the call's step
        return max(at, floor)

    def completion(item_id: str, stack: frozenset[str] = frozenset()) -> int | None:
        if item_id in done:
            return done[item_id]
        it = items.get(item_id)
        first = _first_eligible(it, completion, stack | {item_id}) if it is not None and item_id not in stack else None
        done[item_id] = None if first is None or it.status != "passed" else ordinal(it.message, first)
        return done[item_id]

    out: dict[str, tuple[float, _Eligible]] = {}
    last = len(segments) - 1
    for it in items.values():
        if it.status not in ("passed", "failed"):
            continue
        first = _first_eligible(it, completion, frozenset({it.id}))
        if first is None or first > last:
            continue
        end = completion(it.id)
        if it.status == "passed" and end is not None:
            out[it.id] = (it.weight, _Eligible(first, min(end, last), eta ** (min(end, last) - first)))
        else:
            out[it.id] = (it.weight, _Eligible(first, last, 0.0))
    return out


def _first_eligible(it: ItemResult, completion: Callable[..., int | None], stack: frozenset[str]) -> int | None:
    """The first step ordinal after every dependency completed (0 without dependencies; None: never)."""
    ends = []
    for dep in it.dependence:
        if dep in stack:
            return None  # a dependence cycle never becomes eligible
        end = completion(dep, stack)
        if end is None:
            return None
        ends.append(end)
    return max(ends) + 1 if ends else 0


# ------------------------------------------------------------------------------------------ registry


def _groups(rollouts: list[RolloutCredit]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rollouts):
        groups[r.group].append(i)
    return groups


ADVANTAGES: dict[str, Callable[..., np.ndarray]] = {
    "trajectory": lambda rollouts, mask, **_: trajectory_advantages(rollouts, mask),
    "turn": lambda rollouts, mask, min_group=5, **_: turn_advantages(rollouts, mask, min_group),
    "step": lambda rollouts, mask, min_group=5, eta=1.0, **_: step_advantages(rollouts, mask, min_group, eta),
}
"""``cm2.advantage`` → function(rollouts, response_mask, min_group=..., eta=...) → token advantages."""


def compute(level: str, rollouts: list[RolloutCredit], response_mask: np.ndarray, *, min_group: int = 5,
            eta: float = 1.0) -> np.ndarray:
    if level not in ADVANTAGES:
        raise ValueError(f"cm2.advantage must be one of {', '.join(LEVELS)}, got {level!r}")
    return ADVANTAGES[level](rollouts, np.asarray(response_mask, dtype=np.float64), min_group=min_group, eta=eta)
