"""cm2-env: Gymnasium environments for multi-turn tool-use RL with checklist rewards (CM2).

``import cm2_env`` registers every env id declared in ``envs_registry.yaml``.
"""

from .env import ToolTaskEnv
from .envs import make, register_all

__version__ = "0.1.0"
ENV_IDS = register_all()

__all__ = ["ToolTaskEnv", "make", "register_all", "ENV_IDS", "__version__"]
