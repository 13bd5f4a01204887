"""Makes tests/servers importable as ``cm2_test_servers`` for every test module.

verl installs a top-level ``tests`` package, so ``tests.servers`` cannot be imported by that name; the test
servers are registered once here under a unique name instead of in each module that uses them.
"""

import importlib.util
import sys
from pathlib import Path

if "cm2_test_servers" not in sys.modules:
    _dir = Path(__file__).resolve().parent / "servers"
    _spec = importlib.util.spec_from_file_location(
        "cm2_test_servers", _dir / "__init__.py", submodule_search_locations=[str(_dir)]
    )
    sys.modules["cm2_test_servers"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["cm2_test_servers"])
