#!/usr/bin/env bash
# Create (or update) the separate virtual environment for cold-start SFT with LLaMA-Factory and its tests.
#
#   scripts/install_sft_env.sh [VENV_PATH]      (default: .venv-sft at the repository root)
#
# Why a separate venv: llamafactory 0.9.5 pins transformers<=5.6.0 (plus peft/trl/datasets/accelerate caps) while
# verl 0.9.1 needs transformers>=5.5.3,<5.11,!=5.6.0; the two only meet at 5.5.3/5.5.4, so SFT gets its own env.
# A plain `pip install llamafactory` also replaces torch with a CUDA build (through torchvision/torchaudio):
# every install here runs with a constraint holding torch at $TORCH_VERSION.
# On CPU-only torch, PyPI's torchvision/torchaudio wheels are CUDA-linked and fail to load, and LLaMA-Factory
# imports torchaudio unconditionally: when torch has no CUDA, torchvision is removed and torchaudio is left
# importable without its compiled extension (LLaMA-Factory only needs it for audio models). On GPU machines the
# matching builds stay as pip resolved them. Idempotent: re-running only installs what is missing.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$REPO_ROOT/.venv-sft}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
LLAMAFACTORY_VERSION="0.9.5"
TEST_PACKAGES=("pytest>=8" "pytest-asyncio>=0.23" "hypothesis>=6")

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
CONSTRAINTS="$(mktemp)"
trap 'rm -f "$CONSTRAINTS"' EXIT
echo "torch==$TORCH_VERSION" >"$CONSTRAINTS"

"${PIP[@]}" install -q "torch==$TORCH_VERSION"
"${PIP[@]}" install -q -c "$CONSTRAINTS" "llamafactory==$LLAMAFACTORY_VERSION"
# compat mode (a plain path entry) so packages the repo gains later import without reinstalling
"${PIP[@]}" install -q -c "$CONSTRAINTS" -e "$REPO_ROOT" --config-settings editable_mode=compat "${TEST_PACKAGES[@]}" \
  || "${PIP[@]}" install -q -c "$CONSTRAINTS" -e "$REPO_ROOT" "${TEST_PACKAGES[@]}"

# CPU-only workaround (see the header): only when this torch has no CUDA.
if [ "$("$VENV/bin/python" -c 'import torch; print(int(torch.version.cuda is not None))')" = 0 ]; then
  "${PIP[@]}" uninstall -y -q torchvision 2>/dev/null || true
  "$VENV/bin/python" - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec("torchaudio")
if spec is not None:
    # torchaudio's compiled extension is CUDA-linked here: hide it so `import torchaudio` works (no audio ops).
    root = pathlib.Path(spec.origin).parent
    for lib in list(root.glob("lib/*.so")) + list(root.glob("_torchaudio*.so")):
        lib.rename(lib.with_name(lib.name + ".disabled"))
PY
fi

# Smoke check: torch held, LLaMA-Factory's training entry imports, the CLI exists.
"$VENV/bin/python" - <<PY
import torch
assert torch.__version__.split("+")[0] == "$TORCH_VERSION", torch.__version__
import llamafactory, llamafactory.train.tuner  # noqa: F401
assert llamafactory.__version__ == "$LLAMAFACTORY_VERSION", llamafactory.__version__
import cm2_env  # noqa: F401
print("sft env OK: torch", torch.__version__, "llamafactory", llamafactory.__version__)
PY
test -x "$VENV/bin/llamafactory-cli"
