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
