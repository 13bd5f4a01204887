"""ToolSandbox (apple/ToolSandbox, Apple's licence — see that project's LICENSE) as cm2 envs.

Install: scripts/install_toolsandbox_env.sh (ToolSandbox is not on PyPI). Nothing here imports
``tool_sandbox`` at import time; ``tool_sandbox.cli.utils`` (every provider SDK) is never imported.
"""
