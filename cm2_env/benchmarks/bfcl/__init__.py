"""BFCL v4 multi-turn as cm2 environments: real executable tools, ground-truth checklists, the official checker.

Needs ``bfcl-eval`` (installed without its provider SDKs by ``scripts/install_bfcl_env.sh``). Importing this
package does not import bfcl-eval; the names below are loaded on first use. See README.md in this folder.
"""

from __future__ import annotations

from .. import lazy_exports

_EXPORTS = {
    "BFCLMultiTurnEnv": ".env",
    "bfcl_tasks": ".env",
    "load_category": ".loader",
    "entry_to_task": ".loader",
    "BFCLToolExecutor": ".executor",
    "BFCLInstances": ".executor",
    "BFCLStateCheck": ".checks",
    "BFCLResponseCheck": ".checks",
    "turn_outcome": ".outcome",
    "BFCLOfficialEvaluator": ".official",
    "official_verdict": ".official",
    "CATEGORIES": "._bfcl",
    "available": "._bfcl",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
