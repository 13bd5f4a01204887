"""The judging policy on its own: checks → rule engine, no check → the LLM judge, else unjudged; judge faults
become error verdicts and an episode error, never an exception."""

from __future__ import annotations

from cm2_env.judge.base import TurnJudgeRequest
from cm2_env.judge.policy import JudgingPolicy
from cm2_env.judge.rule import RuleJudge
from cm2_env.tasks.models import ChecklistItem, Task
from cm2_env.types import Verdict

TASK = Task.model_validate({"id": "p", "tools": [{"type": "function", "function": {"name": "f"}}],
                            "turns": [{"user": "u"}]})
ITEMS = [
    ChecklistItem.model_validate({"id": "R", "question": "q", "weight": 0.5, "check": {"type": "tool_called", "name": "f"}}),
    ChecklistItem.model_validate({"id": "L", "question": "open question", "weight": 0.5}),
]
TURN = [{"role": "user", "content": "u"}, {"role": "assistant", "content": "done"}]


class RecordingJudge:
    """Stands in for an LLM judge: remembers what it was asked."""

    def __init__(self, fail: bool = False, answer: bool = True):
        self.asked: list[str] = []
        self.fail, self.answer = fail, answer

    async def judge_turn(self, request):
        self.asked.extend(it.id for it in request.items)
        if self.fail:
            raise ConnectionError("judge server down")
        return {} if not self.answer else {it.id: Verdict(it.id, "passed", 1, "yes", "llm") for it in request.items}


def _req():
    return TurnJudgeRequest(TASK, 0, ITEMS, TURN, [{"role": "system", "content": ""}])


async def test_items_with_checks_go_to_the_rule_engine_the_others_to_the_llm_judge():
    judge = RecordingJudge()
    out = await JudgingPolicy(judge).judge_turn(_req())
    assert judge.asked == ["L"]
    assert list(out.verdicts) == ["R", "L"]  # checklist order
    assert out.verdicts["R"].source == "rule" and out.verdicts["R"].status == "failed"
    assert out.verdicts["L"].source == "llm" and out.verdicts["L"].status == "passed" and out.errors == []


async def test_without_an_llm_judge_open_items_are_unjudged():
    for policy in (JudgingPolicy(), JudgingPolicy(RuleJudge())):
        out = await policy.judge_turn(_req())
        assert out.verdicts["L"].status == "unjudged" and out.verdicts["R"].status == "failed"
        assert not policy.judgeable(ITEMS[1]) and policy.judgeable(ITEMS[0])


async def test_a_raising_judge_gives_error_verdicts_and_an_episode_error():
    out = await JudgingPolicy(RecordingJudge(fail=True)).judge_turn(_req())
    assert out.verdicts["L"].status == "error" and out.verdicts["R"].status == "failed"
    assert [e.kind for e in out.errors] == ["judge_error"] and "down" in out.errors[0].message


async def test_a_judge_that_skips_an_item_gives_an_error_verdict():
    out = await JudgingPolicy(RecordingJudge(answer=False)).judge_turn(_req())
    assert out.verdicts["L"].status == "error" and "no verdict" in out.verdicts["L"].rationale
