"""tau2's registrations (discovered by :mod:`cm2_env.plugins`): the ``tau2`` tool backend, its user sides
(``tau2_scripted``, ``tau2_llm``, ``tau2``) and its check types."""

from ...components import TOOL_BACKENDS, USER_SIMULATORS
from . import checks  # noqa: F401 - registers tau2_action, tau2_db, tau2_env_assertion, tau2_communicate

TOOL_BACKENDS.register_lazy("tau2", "cm2_env.benchmarks.tau2.executor:Tau2ToolExecutor")
# the tau2 user sides (cm2_env.benchmarks.tau2.users); Tau2Env also accepts "scripted" / "llm" / "tau2" for them
USER_SIMULATORS.register_lazy("tau2_scripted", "cm2_env.benchmarks.tau2.users:Tau2ScriptedUser")
USER_SIMULATORS.register_lazy("tau2_llm", "cm2_env.benchmarks.tau2.users:Tau2LLMUser")
USER_SIMULATORS.register_lazy("tau2", "cm2_env.benchmarks.tau2.users:Tau2NativeUser")

from . import report  # noqa: E402,F401 - registers how `cm2 view` summarises this benchmark's verdicts
