#!/usr/bin/env bash
# Install everything the tests need into fresh virtual environments and run the whole test suite.
#   main env  (.venv-test):  torch==2.13.0 (CPU) first, then cm2-env with the dev, hf, train (verl,
#                            TransferQueue) and viz (matplotlib) extras, torch held by a constraint
#   BFCL env  (.venv-bfcl):  bfcl-eval pins numpy==1.26.4, so it cannot share the main env (see README)
# Usage: bash scripts/test.sh   (VENV=..., BFCL_VENV=... to choose the locations; KEEP_VENV=1 to reuse)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv-test}
BFCL_VENV=${BFCL_VENV:-.venv-bfcl}

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
"$VENV/bin/python" -m pytest -q -p no:cacheprovider --ignore=tests/benchmarks tests || status=$?

if [[ -f scripts/install_bfcl_env.sh && -d tests/benchmarks ]]; then
  echo "== BFCL environment: $BFCL_VENV"
  if [[ "${KEEP_VENV:-0}" != 1 || ! -x "$BFCL_VENV/bin/python" ]]; then rm -rf "$BFCL_VENV"; fi
  bash scripts/install_bfcl_env.sh "$BFCL_VENV"
  "$BFCL_VENV/bin/python" -m pytest -q -p no:cacheprovider tests/benchmarks || status=$?
fi
exit $status
