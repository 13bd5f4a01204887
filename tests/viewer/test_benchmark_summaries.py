"""Each benchmark registers how `cm2 view` summarises its official verdicts (from its plugin.py): the viewer finds
them without importing the benchmark, and they give the numbers the benchmark's own CLI prints."""

from __future__ import annotations

import pytest

from cm2_env.rollout import EpisodeRecord
from cm2_env.viewer.evaluations import episode_evaluations, registered_evaluators, summarise_evaluations


def rec(task: str, score: float, evaluations: dict) -> EpisodeRecord:
    return EpisodeRecord(f"{task}#0.0", task, f"{task}#0", 0, 0, score=score, evaluations=evaluations)


def test_every_bundled_benchmark_registers_a_summariser():
    assert {"bfcl", "tau2", "toolsandbox"} <= set(registered_evaluators())


def test_tau2_summary_leaves_judge_tasks_unscored():
    records = [rec("a", 1.0, {"tau2": {"reward": 1.0, "db_match": True}}),
               rec("b", 0.4, {"tau2": {"reward": 0.0, "db_match": False}}),
               rec("c", 1.0, {"tau2": {"reward": None, "needs_llm": True, "reward_without_nl": 1.0}})]
    s = summarise_evaluations(records)["tau2"]
    assert s["metric"] == "avg_reward" and s["summary"]["avg_reward"] == pytest.approx(0.5)
    assert s["summary"]["needs_llm"] == ["c"] and s["summary"]["agreement"] == 1.0
    assert episode_evaluations(records[2])["tau2"]["passed"] is None  # not scored, not a failure


def test_toolsandbox_summary_per_category():
    records = [rec("s1", 1.0, {"toolsandbox": {"similarity": 1.0, "categories": ["SINGLE_TOOL_CALL"], "turn_count": 4}}),
               rec("s2", 0.2, {"toolsandbox": {"similarity": 0.5, "categories": ["MULTIPLE_TOOL_CALL"], "turn_count": 6}})]
    s = summarise_evaluations(records)["toolsandbox"]["summary"]
    assert s["similarity"] == pytest.approx(0.75)
    assert s["per_category"]["SINGLE_TOOL_CALL"] == 1.0 and s["per_category"]["MULTIPLE_TOOL_CALL"] == 0.5
    assert s["agreement"] == 1.0
