"""Checklist scoring: turn score, unjudged items, dependence gating, early stop and reward levels (unit + env)."""

from __future__ import annotations

import pytest

from cm2_env import ToolTaskEnv
from cm2_env.judge.scoring import apply_gating, score_turn, trajectory_score
from cm2_env.tasks.models import ChecklistItem, Task
from cm2_env.types import Verdict


def items(*specs) -> list[ChecklistItem]:
    """specs: (id, weight, dependence, required)."""
    return [ChecklistItem.model_validate({"id": i, "question": "q", "weight": w, "dependence": list(d),
                                          "required_for_next_turn": r}) for i, w, d, r in specs]


def verdicts(**status) -> dict[str, Verdict]:
    return {k: Verdict(k, s) for k, s in status.items()}


# ------------------------------------------------------------------------------------------- unit


@pytest.mark.parametrize(
    "statuses, expected",
    [
        ({"A": "passed", "B": "passed", "C": "passed"}, 1.0),
        ({"A": "passed", "B": "failed", "C": "passed"}, 0.7),
        ({"A": "failed", "B": "passed", "C": "failed"}, 0.3),
        ({"A": "failed", "B": "failed", "C": "failed"}, 0.0),
    ],
)
def test_turn_score_is_weighted_sum(statuses, expected):
    its = items(("A", 0.2, (), False), ("B", 0.3, (), False), ("C", 0.5, (), False))
    assert score_turn(0, its, verdicts(**statuses)).score == pytest.approx(expected)


def test_unjudged_and_error_leave_the_denominator():
    its = items(("A", 0.5, (), False), ("B", 0.25, (), False), ("C", 0.25, (), False))
    assert score_turn(0, its, verdicts(A="passed", B="unjudged", C="failed")).score == pytest.approx(0.5 / 0.75)
    assert score_turn(0, its, verdicts(A="passed", B="unjudged", C="error")).score == pytest.approx(1.0)
    assert score_turn(0, its, verdicts(A="failed", B="unjudged", C="unjudged")).score == 0.0
    assert score_turn(0, its, verdicts(A="unjudged", B="unjudged", C="error")).score is None


def test_dependence_gating_on_and_off():
    its = items(("A", 0.5, (), False), ("B", 0.3, ("A",), False), ("C", 0.2, ("B",), False))
    on = score_turn(0, its, verdicts(A="failed", B="passed", C="passed"), gating=True)
    assert on.score == pytest.approx(0.0)  # B needs A, C needs B (transitively A)
    assert on.verdicts["B"].counted is False and on.verdicts["C"].counted is False
    assert on.verdicts["B"].status == "passed"  # the verdict stays; it just does not count
    assert "dependency" in on.verdicts["B"].rationale
    off = score_turn(0, its, verdicts(A="failed", B="passed", C="passed"), gating=False)
    assert off.score == pytest.approx(0.5)
    assert off.verdicts["B"].counted is True
    # dependency passed: counts
    ok = score_turn(0, its, verdicts(A="passed", B="passed", C="failed"), gating=True)
    assert ok.score == pytest.approx(0.8)
    # only the failing branch is discarded
    its2 = items(("A", 0.25, (), False), ("B", 0.25, (), False), ("C", 0.25, ("A",), False),
                 ("D", 0.25, ("B",), False))
    r = score_turn(0, its2, verdicts(A="passed", B="failed", C="passed", D="passed"))
    assert r.score == pytest.approx(0.5)
    assert r.verdicts["C"].counted and not r.verdicts["D"].counted


def test_gating_with_cyclic_dependence_terminates():
    its = items(("A", 0.5, ("B",), False), ("B", 0.5, ("A",), False))
    assert score_turn(0, its, verdicts(A="passed", B="passed")).score == pytest.approx(1.0)
    assert score_turn(0, its, verdicts(A="passed", B="failed")).score == pytest.approx(0.0)


def test_apply_gating_marks_only_passes():
    its = items(("A", 0.5, (), False), ("B", 0.5, ("A",), False))
    v = verdicts(A="failed", B="failed")
    apply_gating(its, v)
    assert v["B"].counted is True  # a failure is a failure; nothing to discard


def test_required_failed_detection():
    its = items(("A", 0.5, (), True), ("B", 0.3, ("A",), True), ("C", 0.2, (), True))
    r = score_turn(0, its, verdicts(A="failed", B="passed", C="unjudged"))
    assert r.required_failed == ["A", "B"]  # B passed but does not count (A failed); C was not judged
    r = score_turn(0, its, verdicts(A="passed", B="passed", C="passed"))
    assert r.required_failed == []
    r = score_turn(0, its, verdicts(A="failed", B="passed", C="passed"), gating=False)
    assert r.required_failed == ["A"]


def test_veto_item_failing_zeroes_the_turn():
    its = [ChecklistItem.model_validate({"id": i, "question": "q", "weight": w, "veto": v})
           for i, w, v in (("A", 0.4, False), ("B", 0.4, False), ("M", 0.2, True))]
    r = score_turn(0, its, verdicts(A="passed", B="passed", M="failed"))
    assert r.score == 0.0
    assert r.verdicts["A"].status == "passed" and r.verdicts["A"].counted  # the other verdicts are unchanged
    assert "veto" in r.verdicts["M"].rationale
    assert score_turn(0, its, verdicts(A="passed", B="failed", M="passed")).score == pytest.approx(0.6)
    # a veto item that was not judged vetoes nothing; one that failed still does when nothing else was judged
    assert score_turn(0, its, verdicts(A="passed", B="passed", M="unjudged")).score == pytest.approx(1.0)
    assert score_turn(0, its, verdicts(A="error", B="unjudged", M="failed")).score == 0.0
    assert score_turn(0, its, verdicts(A="error", B="unjudged", M="error")).score is None
    assert ChecklistItem.model_validate({"id": "x", "question": "q", "weight": 1}).veto is False


def test_veto_in_an_episode_zeroes_the_trajectory():
    task = Task.model_validate({"id": "veto", "tools": TOOLS, "turns": [{"user": "hi", "checklist": [
        {"id": "R", "question": "replied?", "weight": 0.5, "check": {"type": "reply_matches", "any": ["ok"]}},
        {"id": "F", "question": "no lookup?", "weight": 0.5, "veto": True,
         "check": {"type": "tool_not_called", "name": "lookup"}}]}]})
    env = ToolTaskEnv(tasks=[task])
    env.reset(options={"task_id": "veto"})
    env.step('<tool_call>{"name": "lookup", "arguments": {"key": "k"}}</tool_call>')
    info = env.step("ok")[4]
    assert info["score"] == 0.0 and info["turn_scores"] == [0.0]
    env.reset(options={"task_id": "veto"})
    assert env.step("ok")[4]["score"] == 1.0


def test_trajectory_score():
    from cm2_env.judge.scoring import TurnResult

    tr = [TurnResult(0, 1.0, {}), TurnResult(1, 0.5, {})]
    assert trajectory_score(tr, 0) == pytest.approx(0.75)
    assert trajectory_score(tr, 2) == pytest.approx(1.5 / 4)  # unreached turns count 0
    assert trajectory_score([TurnResult(0, None, {}), TurnResult(1, 0.5, {})], 0) == pytest.approx(0.5)
    assert trajectory_score([], 0) is None
    assert trajectory_score([], 2) == 0.0


# ------------------------------------------------------------------------------------------- env level

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {
    "type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}}}]


def _task() -> Task:
    """Three turns whose items are decided by words in the replies (and one tool call)."""
    reply = lambda *w: {"type": "reply_matches", "any": list(w)}  # noqa: E731
    return Task.model_validate({
        "id": "scoring", "tools": TOOLS,
        "turns": [
            {"user": "turn zero", "checklist": [
                {"id": "A", "question": "alpha?", "weight": 0.4, "required_for_next_turn": True, "check": reply("alpha")},
                {"id": "B", "question": "beta?", "weight": 0.2, "dependence": ["A"], "check": reply("beta")},
                {"id": "E", "question": "gamma?", "weight": 0.2, "check": reply("gamma")},
                {"id": "U", "question": "nice?", "weight": 0.2},  # no check, no judge: unjudged
            ]},
            {"user": "turn one", "checklist": [
                {"id": "C", "question": "lookup?", "weight": 1.0,
                 "check": {"type": "tool_called", "name": "lookup", "args": {"key": {"equals": "k"}}}}]},
            {"user": "turn two", "checklist": [
                {"id": "D", "question": "delta?", "weight": 1.0, "check": reply("delta")}]},
        ],
    })


def run(env, actions_per_turn: list[list[str]], **reset_kw):
    obs, info = env.reset(options={"task_id": "scoring"}, **reset_kw)
    steps = []
    for turn_actions in actions_per_turn:
        for a in turn_actions:
            out = env.step(a)
            steps.append(out)
            if out[2] or out[3]:
                return steps
    return steps


GOOD = [["alpha beta gamma"], ['<tool_call>{"name": "lookup", "arguments": {"key": "k"}}</tool_call>', "done"],
        ["delta"]]
NO_ALPHA = [["beta gamma"], ['<tool_call>{"name": "lookup", "arguments": {"key": "k"}}</tool_call>', "done"],
            ["delta"]]


def make_env(**kw) -> ToolTaskEnv:
    return ToolTaskEnv(tasks=[_task()], **kw)


def test_env_perfect_episode_trajectory_reward():
    steps = run(make_env(), GOOD)
    rewards = [s[1] for s in steps]
    assert rewards[:-1] == [0.0] * (len(steps) - 1)  # 0 until the end
    obs, reward, term, trunc, info = steps[-1]
    assert term and not trunc and info["end_reason"] == "user_done"
    assert reward == pytest.approx(1.0) and info["score"] == pytest.approx(1.0)
    assert info["turn_scores"] == [1.0, 1.0, 1.0]
    assert info["counts"] == {"passed": 5, "failed": 0, "unjudged": 1, "error": 0}
    assert info["unjudged"] == ["t0:U"]
    assert any("unjudged" in w for w in info["warnings"])


def test_env_gating_on_and_off_without_early_stop():
    on = run(make_env(early_stop=False), NO_ALPHA)[-1][4]
    off = run(make_env(early_stop=False, dependence_gating=False), NO_ALPHA)[-1][4]
    # turn 0 judged over A, B, E (U unjudged): den 0.8
    assert on["turn_scores"][0] == pytest.approx(0.2 / 0.8)  # B passed but A failed: not counted
    assert off["turn_scores"][0] == pytest.approx(0.4 / 0.8)
    assert on["score"] == pytest.approx((0.25 + 1 + 1) / 3)
    assert off["score"] == pytest.approx((0.5 + 1 + 1) / 3)
    b_on = next(v for v in on["verdicts"][0]["verdicts"] if v["id"] == "B")
    assert b_on["status"] == "passed" and b_on["counted"] is False


def test_env_early_stop_on():
    steps = run(make_env(), NO_ALPHA)
    assert len(steps) == 1
    obs, reward, term, trunc, info = steps[0]
    assert term and not trunc
    assert info["end_reason"] == "early_stop"
    assert info["early_stop"] == {"turn": 0, "items": ["A"]}
    assert info["turns_completed"] == 1
    # trajectory: mean over the task's 3 turns, the 2 unreached count 0
    assert reward == pytest.approx(0.25 / 3) and info["score"] == pytest.approx(0.25 / 3)
    assert sum(1 for m in obs if m["role"] == "user") == 1  # the next user message never came


def test_env_early_stop_off_continues():
    steps = run(make_env(early_stop=False), NO_ALPHA)
    assert steps[-1][4]["end_reason"] == "user_done"
    assert steps[-1][4]["turns_completed"] == 3
    assert all("early_stop" not in s[4] for s in steps)


def test_env_reward_level_turn():
    steps = run(make_env(reward_level="turn", early_stop=False), NO_ALPHA)
    rewards = [s[1] for s in steps]
    # steps: t0 reply (turn end), t1 tool call, t1 reply (turn end), t2 reply (turn end, final)
    assert rewards == pytest.approx([0.25, 0.0, 1.0, 1.0])
    assert steps[0][4]["turn_result"]["score"] == pytest.approx(0.25)
    assert "turn_result" not in steps[1][4]
    assert steps[-1][4]["score"] == pytest.approx(2.25 / 3)  # the trajectory score is still reported


def test_env_reward_level_trajectory_with_failed_middle_turn():
    actions = [["alpha beta gamma"], ["I won't look it up"], ["delta"]]
    steps = run(make_env(), actions)
    rewards = [s[1] for s in steps]
    assert rewards[:-1] == [0.0, 0.0]
    assert rewards[-1] == pytest.approx(2 / 3)
    assert steps[-1][4]["turn_scores"] == [1.0, 0.0, 1.0]


def test_env_max_turns_truncates_and_counts_unreached():
    steps = run(make_env(max_turns=1), GOOD)
    obs, reward, term, trunc, info = steps[-1]
    assert trunc and not term and info["end_reason"] == "max_turns"
    assert reward == pytest.approx(1 / 3)


def test_turn_with_only_unjudged_items_is_not_scored():
    t = _task().model_copy(deep=True)
    t.turns[2].checklist[0].check = None  # turn 2 becomes unscorable
    env = ToolTaskEnv(tasks=[t])
    info = run(env, GOOD)[-1][4]
    assert info["turn_scores"] == [1.0, 1.0, None]
    assert info["score"] == pytest.approx(1.0)  # the unscorable turn leaves the denominator
