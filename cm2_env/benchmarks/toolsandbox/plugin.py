"""ToolSandbox's registrations (discovered by :mod:`cm2_env.plugins`): the ``toolsandbox`` tool backend, the
``toolsandbox_llm`` user simulator and its check types."""

from ...components import TOOL_BACKENDS, USER_SIMULATORS
from . import checks  # noqa: F401 - registers toolsandbox_milestone, toolsandbox_minefield

TOOL_BACKENDS.register_lazy("toolsandbox", "cm2_env.benchmarks.toolsandbox.session:ToolSandboxBackend")
USER_SIMULATORS.register_lazy("toolsandbox_llm", "cm2_env.benchmarks.toolsandbox.user:ToolSandboxLLMUser")

from . import report  # noqa: E402,F401 - registers how `cm2 view` summarises this benchmark's verdicts
