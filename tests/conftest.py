"""Makes tests/servers importable as ``cm2_test_servers`` for every test module.

verl installs a top-level ``tests`` package, so ``tests.servers`` cannot be imported by that name; the test
servers are registered once here under a unique name instead of in each module that uses them.

``scripted_server``: the scripted chat server the LLM-role tests run against; a module using it names its
request handler ``SCRIPTED_HANDLER``.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

if "cm2_test_servers" not in sys.modules:
    _dir = Path(__file__).resolve().parent / "servers"
    _spec = importlib.util.spec_from_file_location(
        "cm2_test_servers", _dir / "__init__.py", submodule_search_locations=[str(_dir)]
    )
    sys.modules["cm2_test_servers"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["cm2_test_servers"])


@pytest.fixture(scope="module")
def _module_scripted_server(request):
    from cm2_test_servers.scripted import ScriptedServer

    with ScriptedServer(handler=request.module.SCRIPTED_HANDLER) as srv:
        yield srv


@pytest.fixture
def scripted_server(_module_scripted_server, request):
    """A scripted loopback chat server (``cm2_test_servers.scripted``) answering with the test module's
    ``SCRIPTED_HANDLER``: one server per module, reset for each test (no queued actions, no recorded requests,
    the module's handler back in place of any a test set)."""
    srv = _module_scripted_server
    srv.reset()
    srv.handler = request.module.SCRIPTED_HANDLER
    return srv
