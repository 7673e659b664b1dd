"""benchmarks/profile_step.py runs end to end on a tiny saved model: the per-step table
from the loop's own timings and, with --profile, the operator table of each stage.
Structure only, never the timings (machine figures, recorded in docs/benchmarks.md)."""

import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_profile_step_prints_stage_timings_and_operator_tables(run_benchmark, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import vs_trl

    vs_trl.build_tiny(str(tmp_path / "tiny"))
    lines = run_benchmark("profile_step.py", "--model", str(tmp_path / "tiny"), "--steps", "2",
                          "--prompts", "1", "--samples", "2", "--tokens", "4", "--profile",
                          "--top", "3", timeout=300)
    table = lines[lines.index(next(ln for ln in lines if ln.startswith("step "))):]
    assert [row.split()[0] for row in table[1:3]] == ["1", "2"]
    assert table[3].startswith("median after step 1: step ")
    for stage in ("generate", "policy_update"):
        header = next(i for i, ln in enumerate(lines) if ln.startswith(f"== {stage}: "))
        ops = lines[header + 2 : header + 5]
        assert len(ops) == 3 and all(ln.split()[-1].startswith("aten::") or "Backward" in ln
                                     for ln in ops), ops
