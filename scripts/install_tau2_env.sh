#!/usr/bin/env bash
# Create (or update) the separate virtual environment used for the tau2-bench adapter and its tests.
#
#   scripts/install_tau2_env.sh [VENV_PATH]      (default: .venv-tau2 at the repository root)
#
# tau2 (sierra-research/tau2-bench, package `tau2` 1.0.1) needs Python >= 3.12 and is NOT on PyPI (the PyPI
# package named `tau2` is unrelated: never `pip install tau2`). We install it from:
#   $TAU2_SRC        a path or pip URL; default ../shared/vendor/tau2-bench when it exists (here / CI), else the
#                    pinned commit git+https://github.com/sierra-research/tau2-bench@a2c02472...
# then this project editable (its core deps; torch is not one of them and is never installed here) and the test
# packages. Python: $PYTHON, else pyenv's 3.12.1, else the first python3.12/python3.13 on PATH.
# Data: tau2 reads its domains from $TAU2_DATA_DIR. This script records the data dir (given, or <source>/data for
# a local source) in $VENV/cm2-tau2-data-dir, which the adapter uses when TAU2_DATA_DIR is unset; with a git
# install, pass TAU2_DATA_DIR=<checkout>/data.
# Idempotent: re-running only installs what is missing. Ends with a smoke import.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$REPO_ROOT/.venv-tau2}"
TAU2_COMMIT="a2c024725189473d2d7cea3a5cfdbcc67478e41f"
VENDORED="$REPO_ROOT/../shared/vendor/tau2-bench"
if [ -z "${TAU2_SRC:-}" ]; then
  if [ -d "$VENDORED" ]; then TAU2_SRC="$(cd "$VENDORED" && pwd)"
  else TAU2_SRC="git+https://github.com/sierra-research/tau2-bench@$TAU2_COMMIT"; fi
fi

pick_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
  local c
  if command -v pyenv >/dev/null 2>&1; then
    c="$(PYENV_VERSION=3.12.1 pyenv which python3.12 2>/dev/null || true)"
    [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return; }
  fi
  for c in /root/.pyenv/versions/3.12.1/bin/python3.12 python3.12 python3.13 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(0 if (3,12) <= sys.version_info[:2] < (3,14) else 1)'; then
      echo "$c"; return
    fi
  done
  echo "no Python >= 3.12 found (set PYTHON=...)" >&2; exit 2
}
PY="$(pick_python)"

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

if ! "$VENV/bin/python" -c 'import tau2.evaluator.evaluator' 2>/dev/null; then
  "${PIP[@]}" install -q "$TAU2_SRC"
fi
TEST_PACKAGES=("pytest>=8" "pytest-asyncio>=0.23" "hypothesis>=6")
"${PIP[@]}" install -q -e "$REPO_ROOT" --config-settings editable_mode=compat "${TEST_PACKAGES[@]}" \
  || "${PIP[@]}" install -q -e "$REPO_ROOT" "${TEST_PACKAGES[@]}"

export LITELLM_LOCAL_MODEL_COST_MAP=True
if [ -z "${TAU2_DATA_DIR:-}" ] && [ -d "$TAU2_SRC/data" ]; then export TAU2_DATA_DIR="$(cd "$TAU2_SRC/data" && pwd)"; fi
# the adapter reads this when TAU2_DATA_DIR is unset (cm2_env/benchmarks/tau2/_tau2.py: DATA_DIR_FILE)
if [ -n "${TAU2_DATA_DIR:-}" ]; then printf '%s\n' "$TAU2_DATA_DIR" > "$VENV/cm2-tau2-data-dir"; fi
"$VENV/bin/python" - <<'PY'
import importlib
for mod in ["tau2", "tau2.registry", "tau2.evaluator.evaluator", "tau2.data_model.tasks", "cm2_env",
            "cm2_env.benchmarks.tau2"]:
    importlib.import_module(mod)
print("tau2 env OK")
PY
