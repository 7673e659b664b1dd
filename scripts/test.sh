#!/usr/bin/env bash
# Set up (if needed), lint, and run the whole test suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
ruff check src tests benchmarks
# the set-up installed vLLM: its tests must run, not skip (FOCUSRL_VLLM=0 opts out)
export FOCUSRL_REQUIRE_VLLM=${FOCUSRL_VLLM:-1}
python -m pytest -q "$@"
