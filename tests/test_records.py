"""Typed episode records: a closed set of error kinds, summaries and step infos that serialise to info dicts."""

from __future__ import annotations

import pytest

from cm2_env.records import ERROR_KINDS, EpisodeError, EpisodeSummary, StepInfo, ToolCallRecord, TurnResult
from cm2_env.types import VERDICT_STATUSES, Verdict


def test_error_kinds_are_closed():
    with pytest.raises(ValueError, match="unknown error kind"):
        EpisodeError("oops", "x")  # type: ignore[arg-type]
    assert EpisodeError("user_error", "gone").to_dict() == {"type": "user_error", "message": "gone"}


def test_tool_error_codes_map_onto_the_closed_set():
    known = EpisodeError.from_tool("invalid_arguments", "bad", "f", "c1")
    assert known.kind == "invalid_arguments" and known.code is None
    other = EpisodeError.from_tool("execution_error", "boom", "f", "c2")
    assert other.kind == "tool_error" and other.code == "execution_error"
    assert other.to_dict() == {"type": "tool_error", "message": "boom", "tool": "f", "call_id": "c2",
                               "code": "execution_error"}
    assert {"unknown_tool", "malformed_tool_call", "invalid_arguments"} <= ERROR_KINDS


def _summary() -> EpisodeSummary:
    t0 = TurnResult(0, 0.5, {"A": Verdict("A", "passed"), "B": Verdict("B", "failed"), "C": Verdict("C", "unjudged")})
    t1 = TurnResult(1, None, {"A": Verdict("A", "error")})
    return EpisodeSummary("t", 0.25, [t0, t1], num_turns=3, end_reason="early_stop",
                          errors=[EpisodeError("judge_error", "down")],
                          tool_calls=[ToolCallRecord("c", "f", "replay"), ToolCallRecord("d", "g", "validation",
                                                                                         "unknown_tool")])


def test_summary_counts_and_dict():
    s = _summary()
    assert tuple(s.counts()) == VERDICT_STATUSES
    assert s.counts() == {"passed": 1, "failed": 1, "unjudged": 1, "error": 1}
    assert s.turn_scores == [0.5, None] and s.turns_completed == 2 and s.tool_errors == 1
    d = s.to_dict()
    assert d["unjudged"] == ["t0:C"] and d["judge_errors"] == ["t1:A"]
    assert d["episode_errors"] == [{"type": "judge_error", "message": "down"}]
    assert d["tool_calls"][1] == {"id": "d", "name": "g", "source": "validation", "error": "unknown_tool"}
    assert d["verdicts"][0]["verdicts"][0] == {"id": "A", "status": "passed", "step": None, "rationale": "",
                                               "source": "rule", "counted": True}


def test_step_info_dict_carries_the_summary_at_the_end():
    s = _summary()
    step = StepInfo("t", 1, 2, errors=[EpisodeError("parse_error", "x")], summary=s)
    d = step.to_dict()
    assert d["task_id"] == "t" and d["turn"] == 1 and d["step"] == 2
    assert d["errors"] == [{"type": "parse_error", "message": "x"}] and d["score"] == 0.25
    assert "tool_results" not in StepInfo("t", 0, 1).to_dict()
