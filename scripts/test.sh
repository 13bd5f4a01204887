#!/usr/bin/env bash
# Install everything the tests need into fresh virtual environments and run the whole test suite.
#   main env  (.venv-test):  torch==2.13.0 (CPU) first, then cm2-env with the dev, hf, train (verl,
#                            TransferQueue) and viz (matplotlib) extras, torch held by a constraint
#   one env per benchmark whose pins clash with verl's (see README):
#     BFCL        (.venv-bfcl):         bfcl-eval pins numpy==1.26.4
#     tau2-bench  (.venv-tau2):         needs Python >= 3.12; installed from $TAU2_SRC (default ../shared/vendor)
#     ToolSandbox (.venv-toolsandbox):  --no-deps plus a pinned minimal set; from $TOOLSANDBOX_SRC
#   SFT         (.venv-sft):          llamafactory==0.9.5 pins transformers <=5.6.0 (verl needs !=5.6.0); its drift
#                                     test also runs the main env's verl token builder
# Usage: bash scripts/test.sh   (VENV=..., BFCL_VENV=..., TAU2_VENV=..., TOOLSANDBOX_VENV=..., SFT_VENV=... to choose the
# locations; KEEP_VENV=1 to reuse them)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv-test}

fresh_venv() {
  if [[ "${KEEP_VENV:-0}" != 1 || ! -x "$1/bin/python" ]]; then
    rm -rf "$1"
    "$PY" -m venv "$1"
    "$1/bin/pip" install -q -U pip setuptools wheel
  fi
}

echo "== main environment: $VENV"
fresh_venv "$VENV"
"$VENV/bin/pip" install -q torch==2.13.0
"$VENV/bin/pip" install -q -e '.[dev,hf,train,viz]' -c <(echo torch==2.13.0)
"$VENV/bin/python" -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"

status=0
"$VENV/bin/python" -m pytest -q -p no:cacheprovider --ignore=tests/benchmarks --ignore=tests/train/sft tests || status=$?

# benchmark_env NAME INSTALL_SCRIPT VENV TEST_FILE...: a benchmark's own venv, then its tests there
benchmark_env() {
  local name=$1 script=$2 venv=$3
  shift 3
  [[ -f "$script" && $# -gt 0 ]] || return 0
  echo "== $name environment: $venv"
  if [[ "${KEEP_VENV:-0}" != 1 || ! -x "$venv/bin/python" ]]; then rm -rf "$venv"; fi
  bash "$script" "$venv" || { status=1; return 0; }
  "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" || status=$?
}

shopt -s nullglob
benchmark_env BFCL scripts/install_bfcl_env.sh "${BFCL_VENV:-.venv-bfcl}" tests/benchmarks/test_bfcl_*.py
benchmark_env tau2-bench scripts/install_tau2_env.sh "${TAU2_VENV:-.venv-tau2}" tests/benchmarks/test_tau2_*.py
benchmark_env ToolSandbox scripts/install_toolsandbox_env.sh "${TOOLSANDBOX_VENV:-.venv-toolsandbox}" \
  tests/benchmarks/test_toolsandbox_*.py
benchmark_env SFT scripts/install_sft_env.sh "${SFT_VENV:-.venv-sft}" --confcutdir=tests/train/sft tests/train/sft/test_*.py
exit $status
