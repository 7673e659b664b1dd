import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def run_benchmark(tmp_path):
    """Run benchmarks/<script> with `args` in tmp_path; assert it exits 0; return its
    stdout lines."""

    def run(script: str, *args: str, timeout: int = 600) -> list[str]:
        proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout.strip().splitlines()

    return run
