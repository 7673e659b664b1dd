"""pass@k, avg@k and maj@k on hand-computed cases."""

from __future__ import annotations

import pytest

from focusrl.evaluation.metrics import avg_at_k, maj_at_k, pass_at_k


def test_pass_at_k_hand_computed():
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - 3 / 6)  # C(3,2)/C(4,2)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # C(3,2)/C(5,2)
    assert pass_at_k(4, 0, 4) == 0.0 and pass_at_k(4, 3, 2) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def test_avg_at_k_uses_the_first_k_samples():
    correct = [True, False, True, True]
    assert avg_at_k(correct, 1) == 1.0
    assert avg_at_k(correct, 2) == 0.5
    assert avg_at_k(correct, 4) == 0.75


def test_maj_at_k_votes_over_answers():
    answers = ["7", "5", "5", None, "7", "7"]
    correct = [True, False, False, False, True, True]
    assert maj_at_k(answers, correct, 1) == 1.0  # "7"
    assert maj_at_k(answers, correct, 3) == 0.0  # "5" twice beats "7" once
    assert maj_at_k(answers, correct, 4) == 0.0  # None does not vote
    assert maj_at_k(answers, correct, 6) == 1.0  # "7" three times
    assert maj_at_k(["5", "7"], [False, True], 2) == 0.0  # tie: first seen wins
    assert maj_at_k([None, None], [False, False], 2) == 0.0
