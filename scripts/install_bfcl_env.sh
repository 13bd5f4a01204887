#!/usr/bin/env bash
# Create (or update) the separate virtual environment used for the BFCL adapter and its tests.
#
#   scripts/install_bfcl_env.sh [VENV_PATH]      (default: .venv-bfcl at the repository root)
#
# Why a separate venv: bfcl-eval pins numpy==1.26.4 and ~30 provider SDKs (anthropic, cohere, mistralai,
# google-genai, sentence-transformers, faiss, ...), which clash with verl (numpy>=2). The cm2 BFCL adapter only
# imports bfcl-eval's *data files*, the multi-turn *executable classes* and the multi-turn *checker*; those need
# nothing beyond the standard library and `mpmath` (MathAPI). So bfcl-eval is installed with --no-deps and only
# the packages listed in BFCL_EXTRA_PACKAGES are added. Idempotent: re-running only installs what is missing.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$REPO_ROOT/.venv-bfcl}"
PYTHON="${PYTHON:-python3}"

# The exact extras bfcl-eval needs for: data + multi-turn executable classes + multi-turn checker.
BFCL_VERSION="2026.3.23"
BFCL_EXTRA_PACKAGES=(
  "mpmath==1.3.0"    # imported by func_source_code/math_api.py (pinned as bfcl-eval pins it)
  "numpy==1.26.4"    # not imported by the parts we use; pinned to bfcl-eval's own pin so the venv stays coherent
)
TEST_PACKAGES=("pytest>=8" "pytest-asyncio>=0.23" "hypothesis>=6")

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

"${PIP[@]}" install -q "${BFCL_EXTRA_PACKAGES[@]}"
# compat mode (a plain path entry) so packages the repo gains later import without reinstalling; setuptools
# deprecates it, so fall back to the default (strict) editable mode — then rerun this script after adding packages
"${PIP[@]}" install -q -e "$REPO_ROOT" --config-settings editable_mode=compat "${TEST_PACKAGES[@]}" \
  || "${PIP[@]}" install -q -e "$REPO_ROOT" "${TEST_PACKAGES[@]}"
"${PIP[@]}" install -q --no-deps "bfcl-eval==$BFCL_VERSION"

# Smoke check: the pieces the adapter imports must import without any provider SDK.
"$VENV/bin/python" - <<'PY'
import importlib
for mod in [
    "bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker",
    "bfcl_eval.eval_checker.multi_turn_eval.func_source_code.gorilla_file_system",
    "bfcl_eval.eval_checker.multi_turn_eval.func_source_code.math_api",
    "bfcl_eval.eval_checker.multi_turn_eval.func_source_code.message_api",
    "bfcl_eval.eval_checker.multi_turn_eval.func_source_code.posting_api",
    "bfcl_eval.eval_checker.multi_turn_eval.func_source_code.ticket_api",
    "bfcl_eval.eval_checker.multi_turn_eval.func_source_code.trading_bot",
    "bfcl_eval.eval_checker.multi_turn_eval.func_source_code.travel_booking",
    "bfcl_eval.eval_checker.multi_turn_eval.func_source_code.vehicle_control",
    "cm2_env",
]:
    importlib.import_module(mod)
print("bfcl env OK")
PY
