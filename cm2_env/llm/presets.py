"""Role-config presets shipped in ``conf/llm/`` (vllm, sglang, openai, local)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .config import LLMConfig

PRESET_DIR = Path(__file__).resolve().parents[2] / "conf" / "llm"


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(name: str, *, role: str | None = None, **overrides: Any) -> LLMConfig:
    """``conf/llm/NAME.yaml`` (or a YAML path) as an LLMConfig, with field overrides."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no LLM preset {name!r} (known: {', '.join(list_presets())})")
    data = yaml.safe_load(path.read_text()) or {}
    data.update(overrides)
    return LLMConfig.coerce(data, role=role)
