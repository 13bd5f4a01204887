"""CM2's advantage levels on toy batches with hand-computed values (incl. rollouts that stopped early)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from train.verl.advantages import ItemResult, RolloutCredit, Segment, compute

T = 12  # response tokens per rollout


def mask_of(*spans: tuple[int, int]) -> np.ndarray:
    m = np.zeros(T)
    for a, b in spans:
        m[a:b] = 1
    return m


# ------------------------------------------------------------------------------------------ trajectory


def test_trajectory_level_equals_verl_grpo_without_std():
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    scores = [0.2, 0.9, 0.5, 1.0, 0.0, 0.3]
    groups = ["a", "a", "a", "b", "b", "b"]
    mask = np.stack([mask_of((0, 4), (6, 9 + i % 3)) for i in range(6)])
    rollouts = [RolloutCredit(g, s) for g, s in zip(groups, scores)]
    ours = compute("trajectory", rollouts, mask)
    rewards = torch.zeros(6, T)
    for i in range(6):
        rewards[i, int(np.nonzero(mask[i])[0][-1])] = scores[i]
    theirs, _ = compute_grpo_outcome_advantage(rewards, torch.tensor(mask), np.array(groups, dtype=object),
                                               norm_adv_by_std_in_grpo=False)
    np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-6)
    assert ours[0, 0] == pytest.approx(0.2 - (0.2 + 0.9 + 0.5) / 3)


# ------------------------------------------------------------------------------------------ turn


def two_turn(group: str, s0: float, s1: float | None) -> RolloutCredit:
    """Turn 0 on tokens 0..4 (policy 0..2), turn 1 on 5..9 (policy 6..8); s1 None: stopped after turn 0."""
    if s1 is None:
        return RolloutCredit(group, s0 / 2, [s0], [2])
    return RolloutCredit(group, (s0 + s1) / 2, [s0, s1], [2, 8])


TURN_MASK = mask_of((0, 3), (6, 9))


def test_turn_level_baselines_per_position_and_the_group_threshold():
    rollouts = [two_turn("g", 1.0, 0.5), two_turn("g", 0.5, 1.0), two_turn("g", 0.0, 0.0),
                two_turn("g", 0.5, None), two_turn("g", 1.0, 0.5)]
    mask = np.stack([TURN_MASK] * 5)
    adv = compute("turn", rollouts, mask, min_group=5)
    mean0 = (1.0 + 0.5 + 0.0 + 0.5 + 1.0) / 5  # all five reached turn 0
    assert adv[0, 0] == pytest.approx(1.0 - mean0) and adv[2, 2] == pytest.approx(0.0 - mean0)
    assert adv[0, 3] == 0 and adv[0, 5] == 0  # not policy tokens
    assert np.all(adv[:, 6:9] == 0)  # turn 1: only 4 rollouts reached it (< 5): advantage 0
    adv = compute("turn", rollouts, mask, min_group=4)
    mean1 = (0.5 + 1.0 + 0.0 + 0.5) / 4  # the early-stopped rollout is not in turn 1's baseline
    assert adv[1, 7] == pytest.approx(1.0 - mean1) and adv[0, 6] == pytest.approx(0.5 - mean1)
    assert np.all(adv[3, 3:] == 0)  # nothing after the stopped rollout's last judged turn
    assert adv[3, 1] == pytest.approx(0.5 - mean0)


def test_turn_level_skips_unscorable_turns_and_separates_groups():
    rollouts = [two_turn("a", 1.0, None), two_turn("a", 0.0, None),
                RolloutCredit("b", 0.0, [None], [2]), two_turn("b", 0.4, None)]
    adv = compute("turn", rollouts, np.stack([TURN_MASK] * 4), min_group=1)
    assert adv[0, 0] == pytest.approx(0.5) and adv[1, 0] == pytest.approx(-0.5)
    assert np.all(adv[2] == 0)  # a turn with no judgeable item has no score and gets no advantage
    assert adv[3, 0] == pytest.approx(0.0)  # alone in its group's turn-0 baseline


# ------------------------------------------------------------------------------------------ step

# one turn, assistant messages at indices 1 (a call), 3 (the final reply); tokens [0,3) and [6,9)
SEGMENTS = [Segment(0, 1, 0, 3), Segment(0, 3, 6, 9)]
STEP_MASK = mask_of((0, 3), (6, 9))


def rollout(a: str, a_msg: int | None, b: str, b_msg: int | None, group: str = "g") -> RolloutCredit:
    items = [ItemResult("A", 0.6, a, a_msg), ItemResult("B", 0.4, b, b_msg, ("A",))]
    return RolloutCredit(group, 0.0, [0.0], [8], list(SEGMENTS), [items])


def test_step_level_credit_lands_on_the_satisfying_step_with_backfill():
    rollouts = [
        rollout("passed", 1, "passed", 3),   # A at step 0, B (eligible from step 1) at step 1
        rollout("passed", 2, "failed", None),  # A via the tool result (message 2 → step 0), B failed
        rollout("passed", 3, "passed", 3),   # A only at step 1: B eligible from step 2 = never (turn over)
        rollout("failed", None, "passed", 3),  # A failed: B never eligible
        rollout("passed", None, "passed", 3),  # A passed with no step (e.g. tool_not_called): step 0
    ]
    adv = compute("step", rollouts, np.stack([STEP_MASK] * 5), min_group=5, eta=1.0)
    p_a = 4 / 5  # A eligible everywhere, passed in 4
    # B eligible in rollouts 0, 1, 4 only (3 < 5): no B credit anywhere at min_group=5
    assert adv[0, 0] == pytest.approx(0.6 * (1 - p_a)) and adv[0, 6] == 0  # A completed at step 0
    assert adv[2, 0] == pytest.approx(0.6 * (1 - p_a)) and adv[2, 7] == pytest.approx(0.6 * (1 - p_a))  # backfill
    assert adv[3, 0] == pytest.approx(-0.6 * p_a) and adv[3, 8] == pytest.approx(-0.6 * p_a)  # failed: to turn end
    assert adv[0, 4] == 0  # not a policy token
    adv = compute("step", rollouts, np.stack([STEP_MASK] * 5), min_group=3, eta=1.0)
    p_b = 2 / 3  # B: eligible in 0, 1, 4; passed in 0 and 4
    assert adv[0, 6] == pytest.approx(0.4 * (1 - p_b))  # B completed at step 1, eligible from step 1
    assert adv[1, 6] == pytest.approx(-0.4 * p_b) and adv[1, 0] == pytest.approx(0.6 * (1 - p_a))
    assert adv[4, 0] == pytest.approx(0.6 * (1 - p_a))


def test_step_level_eta_decays_late_completion():
    late = RolloutCredit("g", 0, [0.0], [8], list(SEGMENTS), [[ItemResult("A", 1.0, "passed", 3)]])
    early = RolloutCredit("g", 0, [0.0], [8], list(SEGMENTS), [[ItemResult("A", 1.0, "passed", 1)]])
    adv = compute("step", [late, early], np.stack([STEP_MASK] * 2), min_group=2, eta=0.5)
    p = (0.5 + 1.0) / 2
    assert adv[0, 0] == pytest.approx(0.5 - p) and adv[0, 6] == pytest.approx(0.5 - p)
    assert adv[1, 0] == pytest.approx(1.0 - p) and adv[1, 6] == 0


def test_step_level_ignores_unjudged_items_cycles_and_unreached_turns():
    items = [ItemResult("A", 0.5, "unjudged", None), ItemResult("B", 0.25, "passed", 1, ("C",)),
             ItemResult("C", 0.25, "passed", 1, ("B",))]
    r = RolloutCredit("g", 0, [0.0], [8], list(SEGMENTS), [items])
    stopped = RolloutCredit("g", 0, [], [], [], [])
    adv = compute("step", [r, stopped], np.stack([STEP_MASK] * 2), min_group=1)
    assert np.all(adv == 0)


def test_unknown_level_is_a_clear_error():
    with pytest.raises(ValueError, match="cm2.advantage"):
        compute("episode", [], np.zeros((0, T)))


def test_credit_record_round_trip():
    record = {"turn_scores": [0.5, None], "turn_token_ends": [2, 8], "segments": [[0, 1, 0, 3], [1, 1, 6, 9]],
              "items": [[{"id": "A", "weight": 1.0, "status": "passed", "message": 1, "dependence": []}], []]}
    r = RolloutCredit.from_record("u", 0.25, record)
    assert r.turn_scores == [0.5, None] and r.segments[1] == Segment(1, 1, 6, 9)
    assert r.items[0][0] == ItemResult("A", 1.0, "passed", 1, ())
