"""benchmarks/lean_paths.py runs end to end and prints every row and its two summary lines.

Structure only (rows, the last line's format), never the timings: those are machine
figures, recorded in docs/benchmarks.md.
"""

import re

import pytest

LAST = re.compile(r"^lean/transformers time: short: generate \d+\.\d\dx hf generate, update "
                  r"\d+\.\d\dx transformers; long: generate \d+\.\d\dx hf generate, update "
                  r"\d+\.\d\dx transformers$")
BF16 = re.compile(r"^bf16/fp32 time \(lean paths\): short: generate \d+\.\d\dx, update "
                  r"\d+\.\d\dx; long: generate \d+\.\d\dx, update \d+\.\d\dx$")


@pytest.mark.slow
def test_lean_paths_prints_all_rows_and_the_comparison(run_benchmark):
    lines = run_benchmark("lean_paths.py", "--repeats", "1", "--long-tokens", "12",
                          timeout=300)
    assert LAST.match(lines[-2]), lines[-2]
    assert BF16.match(lines[-1]), lines[-1]
    rows = [ln.split() for ln in lines if ln.startswith(("short ", "long "))]
    assert len(rows) == 14
    assert all(float(r[-1]) > 0 for r in rows)
