import pytest

from cm2_env.llm import LLMClient
from cm2_env.llm.presets import list_presets, load_preset


def test_presets_parse(monkeypatch):
    assert {"vllm", "sglang", "openai", "local"} <= set(list_presets())
    for name in ("vllm", "sglang", "local"):
        cfg = load_preset(name, role="judge")
        assert cfg.role == "judge" and cfg.base_url.startswith("http")
        LLMClient(cfg)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    cfg = load_preset("openai", model="gpt-4.1", role="simulator")
    assert cfg.model == "gpt-4.1" and cfg.api_key_env == "OPENAI_API_KEY" and cfg.price.input_per_mtok > 0
    LLMClient(cfg)
    with pytest.raises(FileNotFoundError):
        load_preset("nope")


def test_build_client_from_preset_names():
    from cm2_env.llm import build_client

    c = build_client("vllm", role="judge")
    assert c.role == "judge" and c.config.base_url == "http://localhost:8000/v1"
    c2 = build_client({"preset": "local", "base_url": "http://127.0.0.1:9999/v1", "model": "x"}, role="user")
    assert c2.role == "user" and c2.config.base_url.endswith(":9999/v1") and c2.config.max_concurrency == 2
    from cm2_env.components import JUDGES

    j = JUDGES.build({"name": "llm", "llm": "sglang"})
    assert j.client.config.base_url == "http://localhost:30000/v1"
