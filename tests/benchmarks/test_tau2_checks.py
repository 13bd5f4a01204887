"""tau2 check rules and the pass^k metric (pure functions; run in the tau2 venv with the rest)."""

import pytest

from cm2_env.benchmarks.tau2 import _tau2

_tau2._prepare_environ()  # TAU2_DATA_DIR / LITELLM_LOCAL_MODEL_COST_MAP before tau2 is first imported
pytest.importorskip("tau2")

from cm2_env.benchmarks.tau2.checks import Tau2ActionCheck, action_matches, communicated  # noqa: E402
from cm2_env.benchmarks.tau2.cli import env_id_of, pass_hat_k  # noqa: E402


def test_communicate_rule_is_tau2s():
    assert communicated("1,234.50", ["The refund is 1234.50 dollars."]) is False  # tau2 removes commas from the reply only
    assert communicated("1234.50", ["The refund is $1,234.50."])
    assert communicated("ABC", ["abc"])
    assert not communicated("x", [])


def test_action_compare_args():
    c = Tau2ActionCheck(name="f", arguments={"a": 1, "b": 2}, compare_args=["a"])
    assert action_matches(c, "f", {"a": 1, "b": 99})
    assert not action_matches(c, "f", {"a": 2, "b": 2})
    assert not action_matches(c, "g", {"a": 1})
    full = Tau2ActionCheck(name="f", arguments={"a": 1, "b": 2})
    assert action_matches(full, "f", {"a": 1, "b": 2}) and not action_matches(full, "f", {"a": 1, "b": 3})


def test_pass_hat_k():
    s = {"t1": [True, True, False, False], "t2": [True, True, True, True]}
    assert pass_hat_k(s, 1) == pytest.approx((0.5 + 1) / 2)
    assert pass_hat_k(s, 2) == pytest.approx((1 / 6 + 1) / 2)
    assert pass_hat_k(s, 4) == pytest.approx(0.5)


def test_env_ids():
    assert env_id_of("retail") == "cm2/Tau2-Retail-v0"
    assert env_id_of("telecom-workflow") == "cm2/Tau2-TelecomWorkflow-v0"
    assert env_id_of("banking_knowledge") == "cm2/Tau2-BankingKnowledge-v0"
