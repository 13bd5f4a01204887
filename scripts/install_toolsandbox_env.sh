#!/usr/bin/env bash
# Create (or update) the separate virtual environment used for the ToolSandbox adapter and its tests.
#
#   scripts/install_toolsandbox_env.sh [VENV_PATH]      (default: .venv-toolsandbox at the repository root)
#
# ToolSandbox (apple/ToolSandbox, Apple's licence — see its LICENSE file) is not on PyPI and its declared deps
# pull in every provider SDK. The adapter only needs the scenarios, the execution context, the tools and the
# evaluator, so ToolSandbox is installed with --no-deps plus the minimal set below. Packages that change tool
# output (holidays, pint, polars, rapidfuzz) are pinned. Idempotent.
#   TOOLSANDBOX_SRC  source to install (default: ../shared/vendor/ToolSandbox when present, else the pinned commit)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$REPO_ROOT/.venv-toolsandbox}"
PYTHON="${PYTHON:-python3}"
TOOLSANDBOX_COMMIT="165848b9a78cead7ca7fe7c89c688b58e6501219"
if [ -z "${TOOLSANDBOX_SRC:-}" ]; then
  if [ -d "$REPO_ROOT/../shared/vendor/ToolSandbox/tool_sandbox" ]; then
    TOOLSANDBOX_SRC="$REPO_ROOT/../shared/vendor/ToolSandbox"
  else
    TOOLSANDBOX_SRC="git+https://github.com/apple/ToolSandbox@$TOOLSANDBOX_COMMIT"
  fi
fi

TS_PACKAGES=(
  "polars==0.20.31" "holidays==0.58" "pint==0.24.4" "flexparser==0.4" "rapidfuzz==3.10.1"   # affect tool output: pinned
  attrs networkx scipy rouge-score StrEnum geopy phonenumbers ccy dill decorator "langchain-core<0.3" tenacity requests
)
TEST_PACKAGES=("pytest>=8" "pytest-asyncio>=0.23" "hypothesis>=6")

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

"${PIP[@]}" install -q "${TS_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
"${PIP[@]}" install -q -e "$REPO_ROOT" --config-settings editable_mode=compat \
  || "${PIP[@]}" install -q -e "$REPO_ROOT"
if ! "$VENV/bin/python" -c "import tool_sandbox" 2>/dev/null || [ -n "${TOOLSANDBOX_REINSTALL:-}" ]; then
  "${PIP[@]}" install -q --no-deps "$TOOLSANDBOX_SRC"
fi

# Smoke check: scenarios + evaluator import without any provider SDK (never import tool_sandbox.cli.utils).
"$VENV/bin/python" - <<'PY'
from tool_sandbox.common.execution_context import RoleType
from tool_sandbox.common.tool_discovery import ToolBackend
from tool_sandbox.scenarios import named_scenarios
n = len(named_scenarios(preferred_tool_backend=ToolBackend.DEFAULT))
import cm2_env
print(f"toolsandbox env OK ({n} scenarios)")
PY
