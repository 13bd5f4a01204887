"""BFCL's registrations (discovered by :mod:`cm2_env.plugins`): the ``bfcl`` tool backend and its check types."""

from ...components import TOOL_BACKENDS
from . import checks  # noqa: F401 - registers bfcl_state, bfcl_response

TOOL_BACKENDS.register_lazy("bfcl", "cm2_env.benchmarks.bfcl.executor:BFCLToolExecutor")

from . import report  # noqa: E402,F401 - registers how `cm2 view` summarises this benchmark's verdicts
