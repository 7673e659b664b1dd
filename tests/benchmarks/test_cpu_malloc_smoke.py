"""benchmarks/cpu_malloc.py runs end to end: both arms, and its comparison line.

Structure only, never the timings (machine figures, recorded in docs/benchmarks.md).
"""

import re

import pytest


@pytest.mark.slow
def test_cpu_malloc_benchmark_prints_both_arms_and_the_ratio(run_benchmark):
    lines = run_benchmark("cpu_malloc.py", "--repeats", "1", "--steps", "2", "--prompts", "2",
                          "--samples", "2", "--tokens", "16")
    assert re.match(r"^cpu_malloc on/off time: step \d+\.\d\d, rollout \d+\.\d\d, "
                    r"update \d+\.\d\d$", lines[-1]), lines[-1]
    arms = [ln.split()[0] for ln in lines if ln.startswith(("true ", "false "))]
    assert arms == ["true", "false"]
