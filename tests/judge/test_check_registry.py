"""Check types as a registry: a type registered from this test module (no core file edited) is parsed, put in
the task schema, validated by the loader and judged in an episode; duplicates are refused."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import Field

import cm2_env
from cm2_env.judge.checks import CHECKS, CheckContext, CheckOutcome, CheckSpec, register_check
from cm2_env.tasks import parse_tasks, validate_document
from cm2_env.tasks.schema import build_schema


class ReplyLengthCheck(CheckSpec):
    """Passes if the turn's final reply has at most `max_words` words."""

    type: Literal["test_reply_length"] = "test_reply_length"
    max_words: int = Field(ge=1, description="Most words allowed.")


@register_check(ReplyLengthCheck)
def reply_length(check: ReplyLengthCheck, ctx: CheckContext) -> CheckOutcome:
    finals = [r for r in ctx.view.replies if r.final]
    if not finals:
        return CheckOutcome(False, None, "no final reply")
    words = len(finals[-1].text.split())
    return CheckOutcome(words <= check.max_words, finals[-1].step, f"{words} words")


class SessionSeenCheck(CheckSpec):
    """Passes if the episode's tool session was handed to the check (outcome checks read it)."""

    type: Literal["test_session_seen"] = "test_session_seen"


@register_check(SessionSeenCheck)
def session_seen(check: SessionSeenCheck, ctx: CheckContext) -> CheckOutcome:
    return CheckOutcome(ctx.session is not None and hasattr(ctx.session, "call"), None, repr(type(ctx.session)))


def _doc(check: dict) -> dict:
    return {"version": 1, "tasks": [{
        "id": "t", "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "turns": [{"user": "hi", "checklist": [
            {"id": "A", "question": "short?", "weight": 0.5, "check": check},
            {"id": "B", "question": "session?", "weight": 0.5, "check": {"type": "test_session_seen"}}]}],
        "reference": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}],
    }]}


def test_registered_type_is_in_the_schema_and_validated_by_the_loader():
    schema = build_schema(builtin_only=False)
    assert "ReplyLengthCheck" in schema["$defs"]
    assert "ReplyLengthCheck" not in build_schema()["$defs"]  # the shipped schema holds the built-in types only
    assert validate_document(_doc({"type": "test_reply_length", "max_words": 3}), "<m>") == []
    errors = validate_document(_doc({"type": "test_reply_length", "max_words": 0}), "<m>")
    assert errors and "max_words" in errors[0].path
    errors = validate_document(_doc({"type": "no_such_check"}), "<m>")
    assert errors and "check" in errors[0].path


@pytest.mark.parametrize("limit, score", [(5, 1.0), (1, 0.5)])
def test_an_episode_judges_the_registered_type(limit, score):
    tasks = parse_tasks(_doc({"type": "test_reply_length", "max_words": limit}))
    env = cm2_env.make("cm2/ToolTask-v0", tasks=tasks)
    env.reset(options={"task_id": "t"})
    _, reward, terminated, _, info = env.step("hello there")
    assert terminated and reward == score
    assert {v["id"]: v["status"] for v in info["verdicts"][0]["verdicts"]}["B"] == "passed"
    assert env.summary.score == score and env.summary.counts()["unjudged"] == 0


def test_duplicate_names_are_refused_and_reregistration_is_a_no_op():
    with pytest.raises(ValueError, match="already registered"):
        CHECKS.register(ReplyLengthCheck, session_seen)
    assert CHECKS.register(ReplyLengthCheck, reply_length).decide is reply_length


def test_a_check_model_must_name_its_type():
    class Nameless(CheckSpec):
        pass

    with pytest.raises(TypeError, match="Literal"):
        CHECKS.register(Nameless, reply_length)
