"""benchmarks/cpu_malloc.py runs end to end: both arms, and its comparison line.

Structure only, never the timings (machine figures, recorded in docs/benchmarks.md).
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_cpu_malloc_benchmark_prints_both_arms_and_the_ratio(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cpu_malloc.py"), "--repeats", "1",
         "--steps", "2"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert re.match(r"^cpu_malloc on/off time: step \d+\.\d\d, rollout \d+\.\d\d, "
                    r"update \d+\.\d\d$", lines[-1]), lines[-1]
    arms = [ln.split()[0] for ln in lines if ln.startswith(("true ", "false "))]
    assert arms == ["true", "false"]
