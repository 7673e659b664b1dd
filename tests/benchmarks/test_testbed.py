"""The issue-18 testbed's parts (benchmarks/testbed.py) and the claims-table statistics
(benchmarks/claims_table.py): worked solutions, the forgetful teacher, the BPE tokenizer
(>= 1k tokens, loads back unchanged), t-intervals and verdicts. About 5 s."""

import json
import math
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import claims_table  # noqa: E402
import testbed  # noqa: E402
import testbed_judge  # noqa: E402


def test_worked_solution_adds_digit_by_digit_and_the_teacher_forgets_one_carry():
    rng = random.Random(0)
    for _ in range(200):
        a, b = rng.randint(10, 9999), rng.randint(10, 9999)
        text = testbed.worked_solution(a, b, rng)
        lines = text.splitlines()
        assert lines[0] == " ".join(str(a)) + " + " + " ".join(str(b)) + "."
        assert lines[-1] == f"Answer: {a + b}"
        assert len(lines) == 2 + max(len(str(a)), len(str(b))) + (len(str(a + b)) > max(
            len(str(a)), len(str(b))))
    assert testbed.worked_solution(57, 68, random.Random(0), forget=True).endswith(
        "Answer: 115")  # 7+8=15 carries; the teacher drops it: 5+6=11 -> 115, not 125
    assert not testbed.needs_carry(12, 34) and testbed.needs_carry(57, 68)


def test_tokenizer_has_a_large_vocabulary_and_loads_back_from_a_llama_directory(tmp_path):
    from transformers import AutoTokenizer

    tok = testbed.train_tokenizer(0, corpus_size=4000)
    assert len(tok) >= 1000
    testbed.build_model(tok, 0).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    back = AutoTokenizer.from_pretrained(tmp_path)
    text = "4827+3956=" + testbed.worked_solution(4827, 3956, random.Random(1))
    assert back(text).input_ids == tok(text).input_ids
    assert back.decode(back(text).input_ids) == text
    assert 25 <= len(tok(testbed.worked_solution(4827, 3956, random.Random(1))).input_ids) <= 96


def test_t_interval_and_verdicts():
    mean, low, high, sd = claims_table.t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    half = 2.776 * math.sqrt(2.5) / math.sqrt(5)  # t_{0.975,4} sd / sqrt(n)
    assert (mean, sd) == (3.0, pytest.approx(math.sqrt(2.5)))
    assert (low, high) == (pytest.approx(3 - half), pytest.approx(3 + half))
    assert math.isnan(claims_table.t_interval([1.0])[1])
    assert claims_table.verdict(0.1, 0.5, "higher") == "held"
    assert claims_table.verdict(0.1, 0.5, "lower") == "refuted"
    assert claims_table.verdict(-0.1, 0.5, "higher") == "inconclusive"
    assert claims_table.verdict(math.nan, math.nan, "higher") == "inconclusive"


def test_claims_table_pairs_by_seed(tmp_path):
    for seed, (base, arm) in enumerate([(0.1, 0.3), (0.2, 0.35), (0.3, 0.55)]):
        for name, acc in (("A", base), ("B", arm)):
            (tmp_path / f"{name}_s{seed}.json").write_text(
                json.dumps({"arm": name, "seed": seed, "final": {"acc": acc}}))
    (tmp_path / "B_s9.json").write_text(json.dumps({"arm": "B", "seed": 9, "final": {"acc": 1}}))
    table = claims_table.claims_table(tmp_path, "A", "B", ["acc:higher"])
    assert "3 paired seeds [0, 1, 2] (unpaired, left out: [9])" in table
    row = table.splitlines()[-1]
    assert "+0.2000, +0.1500, +0.2500" in row  # mean 0.2, sd 0.05
    lo = 0.2 - 4.303 * 0.05 / math.sqrt(3)
    assert f"0.2000 [{lo:.4f}, {0.4 - lo:.4f}]" in row and row.endswith("| held |")
    with pytest.raises(SystemExit, match="METRIC:higher"):
        claims_table.claims_table(tmp_path, "A", "B", ["acc"])
    (tmp_path / "A_s1.json").write_text(json.dumps({"arm": "A", "seed": 1, "final": {"acc": 0.4}}))
    assert claims_table.claims_table(tmp_path, "A", "B", ["acc:higher"]).endswith(
        "| inconclusive |")  # diffs 0.2, -0.05, 0.25: the interval holds 0


def test_judgements_are_right_or_forget_a_carry_and_roc_auc_counts_pairs():
    prompts = testbed_judge.judgement_prompts(0, 300)
    verdicts = [p.meta["verdict"] for p in prompts]
    assert 0.25 < verdicts.count("no") / len(verdicts) < 0.5  # half of those with a carry
    for p in prompts:
        question, rest = p.text.split("=", 1)
        a, b = (int(x) for x in question.split("+"))
        assert rest.endswith("\nCorrect? yes or no:")
        right = rest.split("Answer: ")[1].split("\n")[0] == str(a + b)
        assert right == (p.meta["verdict"] == "yes")
    assert testbed_judge.roc_auc([0.9, 0.8, 0.1], [True, True, False]) == 1.0
    assert testbed_judge.roc_auc([0.5, 0.5], [True, False]) == 0.5  # a tie counts half
    assert testbed_judge.roc_auc([0.2, 0.9, 0.4], [True, False, False]) == 0.0
    assert math.isnan(testbed_judge.roc_auc([0.3], [True]))
