"""Run the scripted role server standalone (for trying LLM roles without a GPU or a key):

    python tests/servers/run_scripted.py --port 8011

It answers the judge, tool-simulator and user prompts of cm2_env deterministically (see roles.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path


def _load():
    name = "cm2_test_servers"
    if name not in sys.modules:
        d = Path(__file__).resolve().parent
        spec = importlib.util.spec_from_file_location(name, d / "__init__.py", submodule_search_locations=[str(d)])
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    from cm2_test_servers.roles import role_router
    from cm2_test_servers.scripted import ScriptedServer

    return ScriptedServer, role_router


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8011)
    args = ap.parse_args()
    ScriptedServer, role_router = _load()
    srv = ScriptedServer(handler=role_router, port=args.port)
    srv.start()
    print(f"scripted role server on {srv.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()


if __name__ == "__main__":
    main()
