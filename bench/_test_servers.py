"""The project's test servers (``tests/servers``) as the package ``cm2_test_servers``, for the benches: they
are not installed, so the package is loaded from its folder once per process."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SERVERS_DIR = Path(__file__).resolve().parent.parent / "tests" / "servers"
NAME = "cm2_test_servers"


def load_test_servers() -> ModuleType:
    if NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(NAME, SERVERS_DIR / "__init__.py",
                                                      submodule_search_locations=[str(SERVERS_DIR)])
        sys.modules[NAME] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[NAME])
    return sys.modules[NAME]
