"""benchmarks/lean_logprobs.py runs end to end: both arms and its comparison line.
Structure only, never the timings (machine figures, recorded in docs/benchmarks.md)."""

import re

import pytest


@pytest.mark.slow
def test_lean_logprobs_prints_both_arms_and_the_ratio(run_benchmark):
    lines = run_benchmark("lean_logprobs.py", "--repeats", "1", "--vocab", "600", "--hidden",
                          "32", "--layers", "1", "--prompts", "2", "--samples", "2",
                          "--tokens", "8", timeout=300)
    assert re.match(r"^chunked/full update: time \d+\.\d\d, peak RSS \d+\.\d\d$", lines[-1])
    assert [ln.split()[0] for ln in lines if ln.startswith(("full ", "chunked "))] == [
        "full", "chunked"]
