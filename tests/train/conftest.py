"""Fixtures for the training tests (helpers in train_fixtures.py, fake servers in fake_llm_servers.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("verl")
pytest.importorskip("transformers")

from train_fixtures import WEATHER_TASK, build_tiny_model, build_tiny_tokenizer  # noqa: E402


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory):
    """(model_dir, tokenizer, model): a Qwen2-architecture model of ~50k parameters and its tokenizer."""
    from transformers import AutoTokenizer

    d = tmp_path_factory.mktemp("tiny_qwen")
    hf = build_tiny_tokenizer(d)
    model = build_tiny_model(d, vocab_size=len(hf))
    tokenizer = AutoTokenizer.from_pretrained(d)
    return d, tokenizer, model


@pytest.fixture
def weather_task_file(tmp_path) -> Path:
    p = tmp_path / "weather_tasks.json"
    p.write_text(json.dumps({"version": 1, "name": "weather", "tasks": [WEATHER_TASK]}))
    return p
