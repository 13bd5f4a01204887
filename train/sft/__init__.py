"""Cold-start SFT with LLaMA-Factory: special-token initialisation (``init_tokens``), the sharegpt exporter
(``export``, ``cm2 data to-sft``) and the Hydra launcher (``python -m train.sft``, ``conf/train/sft.yaml``).

LLaMA-Factory itself lives in its own venv (``scripts/install_sft_env.sh``): its pins clash with verl's.
Nothing here imports it at module import time.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parents[1]
CHAT_TEMPLATE = PACKAGE_DIR / "chat_template.jinja"
"""The project's Qwen3-style chat template (keeps think blocks of earlier turns; see the file's header)."""
TOKEN_SPEC = REPO_ROOT / "conf" / "train" / "sft_tokens.yaml"
DATASET_NAME = "cm2_sft"
"""Name of the exported dataset in ``dataset_info.json``."""


def chat_template_text() -> str:
    return CHAT_TEMPLATE.read_text()
