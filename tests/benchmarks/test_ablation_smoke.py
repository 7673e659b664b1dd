"""The RLPT ablation's smoke mode runs end to end and writes its table, plot and last line.

Checks the output's structure only (rows, columns, the last line's format), not numbers:
the smoke mode trains for two tiny steps from a ten-step SFT warm start.
"""

import re

import pytest

VARIANTS = ["GRPO", "GRPO+RLPT K=8", "DAPO", "DAPO+RLPT K=8", "GRPO+RLPT K=2",
            "GRPO+RLPT K=4", "GRPO+RLPT K=16", "GRPO+RLPT K=8 ref"]
LAST_LINE = re.compile(
    r"^RLPT vs GRPO: accuracy \d+\.\d% vs \d+\.\d%, grad variance ratio (\d+\.\d\d|nan|inf)$")


@pytest.mark.slow
def test_ablation_quick_mode_writes_table_plot_and_last_line(tmp_path, run_benchmark):
    out = tmp_path / "ablation"
    last = run_benchmark("ablation_rlpt.py", "--quick", "--out", str(out),
                         "--warm-root", str(tmp_path / "warm"), timeout=300)[-1]
    assert LAST_LINE.match(last), last
    table = (out / "table.md").read_text().strip().splitlines()
    assert table[0].startswith("| variant | final held-out acc")
    assert [row.split("|")[1].strip() for row in table[2:]] == VARIANTS
    assert all(row.count("|") == table[0].count("|") for row in table)
    assert (out / "ablation.png").stat().st_size > 10_000
    assert len((out / "runs.jsonl").read_text().splitlines()) == len(VARIANTS)
