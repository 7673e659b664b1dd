"""benchmarks/tool_use.py runs end to end (tiny sizes; its numbers are in docs/benchmarks.md)."""

import re


def test_tool_use_benchmark_prints_both_reports(run_benchmark):
    lines = run_benchmark("tool_use.py", "--quick", "--threads", "1")
    assert re.fullmatch(r"clarify ask rate: needs a question \d+% -> \d+%, needs none "
                        r"\d+% -> \d+%", lines[-2])
    assert re.fullmatch(r"tool-use held-out accuracy: before \d+% -> after \d+%", lines[-1])
