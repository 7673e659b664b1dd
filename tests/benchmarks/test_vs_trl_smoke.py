"""benchmarks/vs_trl.py runs end to end: every framework row of both models and the ratio
lines.

Structure only (rows, the last lines' format), never the timings: those are machine
figures, recorded in docs/benchmarks.md. TRL is in the `dev` extra, so this runs in CI.
The "39M" model is shrunk here (--big-hidden/--big-layers/--big-vocab) to keep it short.
"""

import re
from pathlib import Path

import pytest

pytest.importorskip("trl")

NUM = r"\d+\.\d\d"


@pytest.mark.slow
def test_vs_trl_prints_every_row_and_the_ratio_lines(run_benchmark):
    # the 39M setting only (shrunk), every row: one worker per framework keeps this ~2 min;
    # the tiny setting runs the same run_setting/worker code with other sizes
    lines = run_benchmark(
        "vs_trl.py", "--models", "39M", "--big-steps", "1", "--big-repeats", "1",
        "--big-prompts", "1", "--big-samples", "2", "--big-tokens", "4", "--big-vocab", "600",
        "--big-hidden", "64", "--big-layers", "1", "--big-bf16", "always")
    assert lines[-2] == "focusrl/trl seconds per step: short n/a, long n/a"
    assert re.match(rf"^focusrl/trl seconds per step, 39M model: matched {NUM}, "
                    rf"defaults {NUM}$", lines[-1]), lines[-1]
    for i, label in ((-5, "both fp32, no checkpointing"), (-4, "both bf16, no checkpointing"),
                     (-3, "each as it comes")):
        assert re.match(rf"^focusrl/trl, {label}: 39M {NUM}$", lines[i]), lines[i]
    assert any(ln.startswith("GEMM probe") for ln in lines[:3])
    frameworks = ["focusrl", "focusrl-fp32", "focusrl-bf16", "trl", "trl-bf16", "trl-fp32"]
    rows = [ln.split() for ln in lines if ln.startswith("39M ")]
    assert [r[1] for r in rows] == frameworks
    assert all(float(r[2]) > 0 and float(r[4]) > 0 for r in rows)
    precision = {r[1]: " ".join(r[6:]).split(" (")[0] for r in rows}
    assert precision["trl"] == "bf16 autocast, grad ckpt"
    assert precision["trl-bf16"] == precision["focusrl-bf16"] == "bf16 autocast"
    assert precision["trl-fp32"] == precision["focusrl-fp32"] == "fp32"
    assert all(r[5].endswith("%") for r in rows if r[6] == "fp32")


def test_the_tiny_setting_counts_its_prompt_tokens(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import vs_trl

    n = vs_trl.build_tiny(str(tmp_path))
    assert 800_000 < n < 900_000  # the 0.87M model the docs name
    chars = [len(p["prompt"]) for p in vs_trl.arithmetic_prompts(16)]  # one token a char
    assert vs_trl.mean_prompt_tokens(str(tmp_path), 16) == sum(chars) / 16
