#!/usr/bin/env bash
# Set up (if needed), lint, and run the whole test suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
bash scripts/setup_browser.sh
if [ "$(id -u)" = 0 ]; then export FOCUSRL_REQUIRE_BROWSER=1; fi
ruff check src tests benchmarks
python -m pytest -q "$@"
