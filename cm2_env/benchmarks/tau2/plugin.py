"""tau2's registrations (discovered by :mod:`cm2_env.plugins`): the ``tau2`` tool backend and its check types."""

from ...components import TOOL_BACKENDS
from . import checks  # noqa: F401 - registers tau2_action, tau2_db, tau2_env_assertion, tau2_communicate

TOOL_BACKENDS.register_lazy("tau2", "cm2_env.benchmarks.tau2.executor:Tau2ToolExecutor")

from . import report  # noqa: E402,F401 - registers how `cm2 view` summarises this benchmark's verdicts
