#!/usr/bin/env bash
# Set up (if needed), lint, and run the whole test suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
bash scripts/setup_browser.sh
if [ "$(id -u)" = 0 ]; then export FOCUSRL_REQUIRE_BROWSER=1; fi
ruff check src tests benchmarks
# the set-up installed vLLM: its tests must run, not skip (FOCUSRL_VLLM=0 opts out)
export FOCUSRL_REQUIRE_VLLM=${FOCUSRL_VLLM:-1}
python -m pytest -q "$@"
