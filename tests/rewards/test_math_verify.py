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


def test_python_level_slowness_is_stopped_by_the_checkers_alarm(monkeypatch):
    """Inside a checker process, an interval timer stops slow Python code at timeout_s
    (no kill needed); what it cannot stop (C code) is killed, tested below."""
    import time

    import focusrl.rewards.math_answer as ma

    def slow(gold, response, extract):
        time.sleep(5)
        return True

    monkeypatch.setattr(ma, "_parse_and_verify", slow)
    start = time.monotonic()
    with pytest.raises(ma.AnswerTimeout):
        ma.verify_with_alarm("$1$", "\\boxed{1}", "auto", 0.2)
    assert time.monotonic() - start < 2.0


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


@pytest.mark.parametrize(("gold", "response"), [
    ("3", "\\boxed{2 \\lor 3}"),
    ("3", "\\boxed{2 \\vee 3}"),
    ("3", "\\boxed{2 \\text{ or } 3}"),
    ("3", "\\boxed{2 or 3}"),
    ("3", "\\boxed{2 and 3}"),
    ("3", "\\boxed{3, 3}"),
    ("3", "\\boxed{3,3,3}"),
    ("\\{1,2\\}", "\\boxed{\\{1,1,2\\}}"),
    ("3", "First \\boxed{2}, no wait: \\boxed{3}"),
    ("3", "\\boxed{3} or maybe \\boxed{4}"),
    ("\\frac{1}{3}", "\\boxed{0.3333333}"),
    ("0.0000004", "\\boxed{0.0000001}"),
    ("10\\%", "\\boxed{0.1}"),
    ("1000000", "\\boxed{1e5}"),
    ("\\frac{\\sqrt{3}}{2}", "\\boxed{0.866025}"),
])
def test_issue_13_near_misses_are_wrong(reward, gold, response):
    assert not reward.check(gold, response)


@pytest.mark.parametrize(("gold", "response"), [
    ("1000000", "\\boxed{1e6}"),
    ("1000000", "\\boxed{10^{6}}"),
    ("1500", "\\boxed{1.5e3}"),
    ("2000", "\\boxed{2\\times10^{3}}"),
    ("1,450,000", "#### 1.45e+06"),
    ("\\frac{1}{3}", "\\boxed{0.333333333333}"),  # within the 1e-9 relative tolerance
    ("10\\%", "\\boxed{10\\%}"),
    ("3", "\\boxed{3} and once more, \\boxed{ 3 }"),  # the same answer twice is one answer
    ("(1,2)", "\\boxed{(1, 2)}"),
])
def test_issue_13_forms_that_are_right(reward, gold, response):
    assert reward.check(gold, response)


def test_hanging_answers_are_killed_counted_and_spare_the_rest_of_the_batch():
    """Answers of issue 13 that defeated the old 5 s alarm (sympy stuck in C code)."""
    from focusrl.rewards.base import RewardPipeline, SampleFailure
    from focusrl.rewards.config import RewardConfig, RewardPartConfig

    reward = MathVerifyReward(timeout_s=1.0)
    responses = ["\\boxed{12}", "\\boxed{9^{9^{9}}}", "\\boxed{12}", "\\boxed{13}",
                 "\\boxed{(10^{8})!}", "\\boxed{12}"]
    samples = [Sample(f"q{i}", i, [], [], [], response_text=r, answer="12")
               for i, r in enumerate(responses)]
    cfg = RewardConfig(parts=[RewardPartConfig(kind="math_verify", timeout_s=120)])
    pipe = RewardPipeline(cfg, {"math_verify": reward})
    stats = pipe.score(samples)
    assert [s.reward for s in samples] == [1.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    assert [(f.index, f.prompt_id, f.kind) for f in stats.failures] == [
        (1, "q1", "timeout"), (4, "q4", "timeout")]
    assert stats.counts() == {"reward_failures/math_verify": 2}
    assert reward.timeouts == 2 and reward.worker.kills == 2
    assert isinstance(reward.score(samples[1:2])[0], SampleFailure)  # again, still caught
    assert reward.score(samples[:1]) == [1.0]  # and the worker goes on
    reward.close()
