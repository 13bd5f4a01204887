"""Start a real OpenAI-compatible server on CPU: `transformers serve` with a local model directory."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

from .scripted import free_port


def serve_available() -> bool:
    try:
        import fastapi  # noqa: F401
        import transformers  # noqa: F401
        import uvicorn  # noqa: F401
        from transformers.utils.import_utils import is_serve_available
    except Exception:
        return False
    return bool(is_serve_available())


@contextlib.contextmanager
def transformers_server(model_dir: str | Path, *, startup_timeout: float = 180.0) -> Iterator[tuple[str, str]]:
    """Yields (base_url, model name). Fully offline: HF_HUB_OFFLINE, a private empty hub cache."""
    port = free_port()
    home = tempfile.mkdtemp(prefix="cm2_hf_home_")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": home,
           "HF_HUB_CACHE": os.path.join(home, "hub"), "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "1"}
    os.makedirs(env["HF_HUB_CACHE"], exist_ok=True)
    exe = Path(sys.executable).with_name("transformers")
    base = [str(exe)] if exe.exists() else [sys.executable, "-c",
                                             "import sys; from transformers.cli.transformers import main; main()"]
    cmd = base + ["serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
                  "--default-seed", "0", "--log-level", "warning"]
    log_path = os.path.join(home, "serve.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited ({proc.returncode}):\n{Path(log_path).read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"transformers serve did not start:\n{Path(log_path).read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1", str(model_dir)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
