"""tau2-bench (sierra-research/tau2-bench, package ``tau2`` 1.0.1) as cm2 environments: real domain tools, checklists
from the gold evaluation criteria, tau2's own evaluator. Needs tau2 (``scripts/install_tau2_env.sh``). Importing
this package does not import tau2; the names below load on first use. See README.md in this folder.
"""

from __future__ import annotations

from .. import lazy_exports

_EXPORTS = {
    "Tau2Env": ".env",
    "tau2_tasks": ".env",
    "load_domain": ".loader",
    "tau2_to_task": ".loader",
    "Tau2ToolExecutor": ".executor",
    "Tau2ToolSession": ".executor",
    "Tau2OfficialEvaluator": ".official",
    "official_verdict": ".official",
    "Tau2ScriptedUser": ".users",
    "Tau2LLMUser": ".users",
    "Tau2NativeUser": ".users",
    "usable_domains": "._tau2",
    "registered_domains": "._tau2",
    "domain_status": "._tau2",
    "available": "._tau2",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
