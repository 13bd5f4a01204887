"""The `train` extra installs what verl's default v1 trainer imports (TransferQueue with it)."""

from __future__ import annotations

import subprocess
import sys


def test_v1_trainer_imports_in_a_fresh_interpreter():
    code = "import transfer_queue, verl.trainer.main_ppo, verl.trainer.ppo.v1.trainer_sync; import train.verl.trainer"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
