"""Multiple-choice extraction, DAPO overlong punishment, LASER and LASER-D bonuses."""

from __future__ import annotations

import pytest

from focusrl.rewards.basic import MultipleChoiceReward
from focusrl.rewards.extract import extract_choice
from focusrl.rewards.shaping import (
    LaserDReward,
    LaserReward,
    OverlongReward,
    difficulty_bucket,
    ecr_target,
    laser_bonus,
    overlong_penalty,
)
from focusrl.types import Sample


@pytest.mark.parametrize(("text", "letter"), [
    ("The answer is (B).", "B"),
    ("Answer: C", "C"),
    ("I think the correct option is D because it fits.", "D"),
    ("**B**", "B"),
    ("B", "B"),
    ("(A)", "A"),
    ("A) is correct since it is the only prime.", "A"),
    ("\\boxed{B}", "B"),
    ("A first guess is (A), but the answer is C.", "C"),
    ("A good question.", None),  # the article "A" is not a choice
    ("Between A and B I cannot decide.", None),
])
def test_choice_letter_extraction(text, letter):
    assert extract_choice(text) == letter


def test_extraction_honours_the_letter_set():
    assert extract_choice("The answer is E.", "ABCDE") == "E"
    assert extract_choice("The answer is E.", "ABCD") is None
    with pytest.raises(ValueError, match="upper-case"):
        extract_choice("x", "abcd")


def test_multiple_choice_reward_accepts_letters_and_indices():
    r = MultipleChoiceReward()
    samples = [Sample("p", 0, [], [], [], response_text=t, answer=a)
               for t, a in [("Answer: B", "B"), ("Answer: B", 1), ("Answer: B", "(c)"),
                            ("no idea", "A")]]
    assert r.score(samples) == [1.0, 1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="not one of the letters"):
        r.gold_letter("F")
    with pytest.raises(ValueError, match="outside 0..3"):
        r.gold_letter(7)


@pytest.mark.parametrize(("length", "expected"), [
    (0, 0.0), (12, 0.0),  # within max - cache = 12
    (13, -0.25), (14, -0.5), (16, -1.0),  # inside the 4-token buffer: (12 - L) / 4
    (17, -1.0), (100, -1.0),  # beyond max
])
def test_overlong_penalty_by_hand(length, expected):
    assert overlong_penalty(length, max_length=16, cache_length=4) == pytest.approx(expected)


def test_overlong_penalty_refuses_a_buffer_longer_than_the_limit():
    with pytest.raises(ValueError, match="cache_length"):
        overlong_penalty(3, max_length=4, cache_length=8)


def _s(n_tokens, correct, group=0):
    return Sample("p", group, [], list(range(n_tokens)), [0.0] * n_tokens,
                  reward_parts={"correct": float(correct)})


def test_overlong_reward_reads_response_tokens():
    assert OverlongReward(16, 4).score([_s(10, True), _s(14, True)]) == [0.0, -0.5]


def test_laser_bonus_only_for_correct_and_short_enough():
    assert laser_bonus(True, 100, 100, 0.5) == 0.5
    assert laser_bonus(True, 101, 100, 0.5) == 0.0
    assert laser_bonus(False, 10, 100, 0.5) == 0.0
    r = LaserReward(target_length=5, alpha=0.3)
    assert r.score([_s(5, True), _s(6, True), _s(2, False)]) == [0.3, 0.0, 0.0]


def test_laser_explains_a_missing_correctness_part():
    with pytest.raises(KeyError, match="list that part before this one"):
        LaserReward(target_length=5, correct_part="math").score([_s(3, True)])


def test_difficulty_buckets_by_group_accuracy():
    assert [difficulty_bucket(a) for a in (1.0, 2 / 3, 0.5, 1 / 3, 0.2, 0.0)] == [
        "easy", "easy", "medium", "medium", "hard", "hard"]


def test_ecr_target_is_smallest_budget_with_one_expected_correct_response():
    # 4 responses, group size 4: correct lengths 3 and 9 -> P(<=4)=1/4 -> ECR 1 at budget 4
    assert ecr_target([True, False, True, False], [3, 2, 9, 20], 4, [2, 4, 8, 16]) == 4
    # needing 2 expected correct responses moves the budget to 16 (both correct <= 16)
    assert ecr_target([True, False, True, False], [3, 2, 9, 20], 4, [2, 4, 8, 16], 2.0) == 16
    # nothing correct: the largest budget
    assert ecr_target([False, False], [1, 1], 2, [2, 4]) == 4


def test_laser_d_sets_a_target_per_difficulty_bucket():
    easy = [_s(3, True, 0), _s(5, True, 0), _s(9, True, 0)]  # accuracy 1 -> easy
    hard = [_s(7, True, 1), _s(2, False, 1), _s(2, False, 1)]  # accuracy 1/3 -> medium
    r = LaserDReward(budgets=[4, 8, 16], alpha=1.0)
    # easy: ECR at 4 = 3 * 1/3 = 1 -> target 4; medium: ECR at 8 = 3 * 1/3 -> target 8
    assert r.score(easy + hard) == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    assert r.last_targets == {"easy": 4, "medium": 8}
