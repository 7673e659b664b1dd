#!/usr/bin/env bash
# Set up focusrl in ./.venv: PyTorch first (CPU or CUDA build, see below), then focusrl
# with its test/benchmark extras. Safe to re-run; does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# The code sandbox's jail (docs/rewards.md): bubblewrap, a Debian package. Installed when we
# are root with apt-get; otherwise say what is missing (the sandbox warns and falls back).
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get install -y -qq bubblewrap >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null 2>&1; }) ||
      echo "setup: could not install bubblewrap; the code sandbox will run without its jail" >&2
  else
    echo "setup: bubblewrap (bwrap) is missing and we are not root with apt-get; the code" \
         "sandbox will run without its private file system (install the bubblewrap package)" >&2
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if ! python -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    # a GPU machine: the default PyPI build of torch ships the CUDA libraries
    python -m pip install -q "torch>=2.4"
  elif [ -n "${FOCUSRL_TORCH_INDEX:-}" ]; then
    # e.g. FOCUSRL_TORCH_INDEX=https://download.pytorch.org/whl/cpu for a small CPU build
    python -m pip install -q torch --index-url "$FOCUSRL_TORCH_INDEX"
  else
    # CPU machine: a pinned version, which pip takes from a local CPU wheel when the
    # machine provides one (find-links), instead of pulling GBs of CUDA packages
    python -m pip install -q "torch==2.13.0"
  fi
fi
python -m pip install -q -e ".[dev]"
echo "focusrl set up in .venv (torch $(python -c 'import torch; print(torch.__version__)'))"
