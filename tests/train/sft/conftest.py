"""Fixtures for the SFT-venv tests (LLaMA-Factory, installed by scripts/install_sft_env.sh).

Run with ``--confcutdir=tests/train/sft`` (as scripts/test.sh does): the parent conftests need verl, which the
SFT venv does not have.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    from train.sft.testing import build_tiny_qwen3

    return build_tiny_qwen3(tmp_path_factory.mktemp("tiny-qwen3") / "base", tied=False)


@pytest.fixture(scope="session")
def sft_run(tmp_path_factory):
    """The whole cold-start chain on CPU, once per session: tiny Qwen3 (untied) -> init_tokens -> export of 12
    starter references -> `python -m train.sft` (real LLaMA-Factory, 3 optimizer steps). Returns the paths;
    ``sft_run["checkpoint"]`` is an HF checkpoint directory (model, tokenizer, chat template) that
    ``--agent hf --agent-arg model=...`` and ``python -m train.grpo actor_rollout_ref.model.path=...`` load."""
    from sft_helpers import run_sft_chain

    return run_sft_chain(tmp_path_factory.mktemp("sft-chain"))
