"""benchmarks/vs_trl.py runs end to end: every framework row and the three ratio lines.

Structure only (rows, the last lines' format), never the timings: those are machine
figures, recorded in docs/benchmarks.md. TRL is in the `dev` extra, so this runs in CI.
"""

import re

import pytest

pytest.importorskip("trl")

RATIO = r"seconds per step: short \d+\.\d\d, long \d+\.\d\d$"


@pytest.mark.slow
def test_vs_trl_prints_every_row_and_the_ratio_lines(run_benchmark):
    lines = run_benchmark("vs_trl.py", "--steps", "2", "--prompts", "2", "--samples", "2",
                          "--repeats", "1")
    assert re.match(r"^focusrl/trl " + RATIO, lines[-1]), lines[-1]
    assert re.match(r"^focusrl fp32 / trl \(bf16 autocast\) " + RATIO, lines[-2]), lines[-2]
    assert re.match(r"^focusrl fp32 / trl-matched fp32 " + RATIO, lines[-3]), lines[-3]
    rows = [ln.split() for ln in lines if ln.startswith(("short ", "long "))]
    assert [(r[0], r[1]) for r in rows] == [
        (s, f) for s in ("short", "long")
        for f in ("focusrl", "focusrl-bf16", "trl", "trl-matched")]
    assert all(float(r[2]) > 0 and float(r[3]) > 0 for r in rows)
    precision = {r[1]: " ".join(r[4:]) for r in rows}
    assert precision == {"focusrl": "fp32", "focusrl-bf16": "bf16 autocast",
                         "trl": "bf16 autocast", "trl-matched": "fp32"}
