"""Math answers: extraction, equivalence with math-verify, data-set gold answers, time limit."""

from __future__ import annotations

import json
import threading

import pytest

from focusrl.rewards.math_answer import MathVerifyReward, gold_text
from focusrl.types import Sample

pytest.importorskip("math_verify", reason="math-verify is in the dev extra; pip install -e .[dev]")


def _sample(response: str, answer: object) -> Sample:
    return Sample("p", 0, [], [], [], response_text=response, answer=answer)


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def reward() -> MathVerifyReward:
    return MathVerifyReward()


@pytest.mark.parametrize(("gold", "said"), [
    ("\\frac{1}{2}", "0.5"),
    ("\\frac{1}{2}", "1/2"),
    ("\\frac12", "\\dfrac{1}{2}"),
    ("0.5", "\\tfrac{1}{2}"),
    ("1234", "1,234"),
    ("18", "18.00"),
    ("2\\sqrt{2}", "\\sqrt{8}"),
    ("\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}"),
    ("x^2+2x+1", "(x+1)^2"),
    ("\\{1,2\\}", "\\{2,1\\}"),
    ("(0,1]", "(0, 1]"),
    ("\\pi/2", "\\frac{\\pi}{2}"),
    ("5", "x=5"),
    ("\\text{(C)}", "C"),
    ("10\\%", "10"),
])
def test_equivalent_forms_verify(reward, gold, said):
    assert reward.check(gold, f"So we get \\boxed{{{said}}}.")


@pytest.mark.parametrize(("gold", "said"), [
    ("0.5", "0.51"),
    ("\\frac13", "0.33"),
    ("-3", "3"),
    ("(0,1]", "[0,1]"),
    ("(-\\infty,0)", "(-\\infty, 0]"),
    ("\\{1,2\\}", "\\{1,2,3\\}"),
    ("2\\sqrt{2}", "2\\sqrt{3}"),
])
def test_near_misses_do_not_verify(reward, gold, said):
    assert not reward.check(gold, f"So we get \\boxed{{{said}}}.")


def test_extraction_prefers_boxed_then_hash_then_last_number(reward):
    assert reward.check("7", "3 apples and 4 pears: \\boxed{7}, not 8")
    assert reward.check("7", "3 + 4 = 7\n#### 7")
    assert reward.check("7", "3 + 4 makes 7")
    assert not reward.check("7", "no number here")
    assert reward.score([_sample("\\boxed{7}", "7"), _sample("\\boxed{8}", "7")]) == [1.0, 0.0]


def test_gold_text_reduces_gsm8k_solutions_and_wraps_latex():
    assert gold_text("She makes 9 * 2 = $18.\n#### 18") == "$18$"
    assert gold_text("\\frac{1}{2}") == "$\\frac{1}{2}$"
    assert gold_text("\\boxed{3}") == "\\boxed{3}"


def test_bad_arguments_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="extract="):
        MathVerifyReward(extract="first_number")
    with pytest.raises(ValueError, match="timeout_s"):
        MathVerifyReward(timeout_s=0)


def test_math500_gold_answers_verify_and_other_answers_do_not(shared_data, reward):
    rows = _jsonl(shared_data / "math500" / "test.jsonl")
    assert len(rows) == 500
    right = [_sample(f"Let me work it out. The answer is \\boxed{{{r['answer']}}}.", r["answer"])
             for r in rows]
    assert [i for i, v in enumerate(reward.score(right)) if v != 1.0] == []

    def plain(a: str) -> str:  # "x=5" states the same value as "5": not a wrong answer
        return a.split("=")[-1].replace(" ", "")

    wrong = []
    for i, r in enumerate(rows):
        j = (i + 1) % len(rows)
        while plain(rows[j]["answer"]) == plain(r["answer"]):
            j = (j + 1) % len(rows)
        wrong.append(_sample(f"The answer is \\boxed{{{rows[j]['answer']}}}.", r["answer"]))
    assert [i for i, v in enumerate(reward.score(wrong)) if v != 0.0] == []


def test_gsm8k_hash_answers_verify_and_off_by_one_does_not(shared_data, reward):
    rows = _jsonl(shared_data / "gsm8k" / "test.jsonl")
    assert len(rows) == 1319
    right = [_sample(r["answer"], r["answer"]) for r in rows]  # worked solution, `#### n`
    assert [i for i, v in enumerate(reward.score(right)) if v != 1.0] == []
    wrong = []
    for r in rows:
        n = float(r["answer"].split("####")[-1].replace(",", ""))
        # .12g: with :g, 1450001 prints as 1.45e+06, which *is* the gold 1,450,000
        wrong.append(_sample(f"So the total is\n#### {n + 1:.12g}", r["answer"]))
    assert [i for i, v in enumerate(reward.score(wrong)) if v != 0.0] == []


def test_answer_that_takes_too_long_times_out_and_is_counted(monkeypatch):
    import focusrl.rewards.math_answer as ma

    def slow(gold, response, extract):
        import time
        time.sleep(5)
        return True

    monkeypatch.setattr(ma, "_parse_and_verify", slow)
    reward = MathVerifyReward(timeout_s=0.2)
    assert reward.check("1", "\\boxed{1}") is False
    assert reward.timeouts == 1


def test_checks_from_a_worker_thread_run_under_the_time_limit_too(reward):
    out = {}

    def run():
        out["ok"] = reward.check("\\frac{1}{2}", "\\boxed{0.5}")
        out["bad"] = reward.check("\\frac{1}{2}", "\\boxed{0.6}")

    t = threading.Thread(target=run)
    t.start()
    t.join(120)
    assert out == {"ok": True, "bad": False}
    reward.close()


def test_escaped_dollar_in_a_gold_answer_is_currency_not_math_delimiter(reward):
    assert gold_text("\\$18.90") == "$\\$18.90$"
    assert reward.check("\\$18.90", "It costs \\boxed{\\$18.90}.")
