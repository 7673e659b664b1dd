"""benchmarks/engines.py runs end to end at small sizes and prints its table and last line.

Structure only, never the timings (machine figures, recorded in docs/benchmarks.md).
Two vLLM start-ups: ~1-2 min on 2 busy cores."""

import re

import pytest

LAST = re.compile(r"^vllm/hf tokens per second: tiny \d+\.\d\d, 40M \d+\.\d\d$")


@pytest.mark.slow
def test_engines_benchmark_prints_both_engines_for_both_models(run_benchmark, shared_data,
                                                               require_vllm):
    lines = run_benchmark("engines.py", "--text", str(shared_data / "gsm8k" / "train.jsonl"),
                          "--vocab", "1000", "--hidden", "64", "--layers", "1", "--heads",
                          "2", "--mlp", "64", "--steps", "2", "--tokens", "4", "--repeats",
                          "1", timeout=600)
    assert LAST.match(lines[-1]), lines[-1]
    rows = [ln.split() for ln in lines if ln.split()[:2] in (["tiny", "hf"], ["tiny", "vllm"],
                                                             ["40M", "hf"], ["40M", "vllm"])]
    assert [(r[0], r[1]) for r in rows] == [("tiny", "hf"), ("tiny", "vllm"), ("40M", "hf"),
                                            ("40M", "vllm")]
    assert all(float(r[2]) > 0 and float(r[3]) > 0 for r in rows)
