"""benchmarks/vs_trl.py runs end to end: every framework row of both models and the ratio
lines.

Structure only (rows, the last lines' format), never the timings: those are machine
figures, recorded in docs/benchmarks.md. TRL is in the `dev` extra, so this runs in CI.
The "39M" model is shrunk here (--big-hidden/--big-layers/--big-vocab) to keep it short.
"""

import re

import pytest

pytest.importorskip("trl")

NUM = r"\d+\.\d\d"


@pytest.mark.slow
def test_vs_trl_prints_every_row_and_the_ratio_lines(run_benchmark):
    lines = run_benchmark(
        "vs_trl.py", "--steps", "2", "--prompts", "2", "--samples", "2", "--repeats", "1",
        "--big-steps", "1", "--big-repeats", "1", "--big-prompts", "1", "--big-samples", "2",
        "--big-tokens", "4", "--big-vocab", "600", "--big-hidden", "64", "--big-layers", "1",
        "--big-bf16", "always", "--emulated-steps", "1")
    assert re.match(rf"^focusrl/trl seconds per step: short {NUM}, long {NUM}$", lines[-2])
    assert re.match(rf"^focusrl/trl seconds per step, 39M model: matched {NUM}, "
                    rf"defaults {NUM}$", lines[-1]), lines[-1]
    for i, label in ((-5, "both fp32, no checkpointing"), (-4, "both bf16, no checkpointing"),
                     (-3, "each as it comes")):
        assert re.match(rf"^focusrl/trl, {label}: short {NUM}, long {NUM}, 39M {NUM}$",
                        lines[i]), lines[i]
    assert any(ln.startswith("GEMM probe") for ln in lines[:3])
    frameworks = ["focusrl", "focusrl-fp32", "focusrl-bf16", "trl", "trl-bf16", "trl-fp32"]
    rows = [ln.split() for ln in lines if ln.startswith(("short ", "long ", "39M "))]
    assert [(r[0], r[1]) for r in rows] == [
        (s, f) for s in ("short", "long") for f in frameworks] + [
        ("39M", f) for f in frameworks]
    assert all(float(r[2]) > 0 and float(r[4]) > 0 for r in rows)
    precision = {r[1]: " ".join(r[6:]).split(" (")[0] for r in rows if r[0] == "long"}
    assert precision["trl"] == "bf16 autocast, grad ckpt"
    assert precision["trl-bf16"] == precision["focusrl-bf16"] == "bf16 autocast"
    assert precision["trl-fp32"] == precision["focusrl-fp32"] == "fp32"
    assert all(r[5].endswith("%") for r in rows if r[0] != "short" and r[6] == "fp32")
