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
