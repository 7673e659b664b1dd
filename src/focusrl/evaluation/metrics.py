"""Evaluation metrics over one prompt's n samples: pass@k, avg@k, maj@k.

All three take the per-sample outcomes in sampling order. pass@k uses the unbiased
estimator over all n samples; avg@k and maj@k use the first k samples (avg@k: the mean
accuracy of k samples; maj@k: whether the most frequent extracted answer among k samples
is a correct one, ties going to the answer seen first).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from math import comb


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), n samples, c correct."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def avg_at_k(correct: Sequence[bool], k: int) -> float:
    """Mean accuracy of the first k samples."""
    if k > len(correct):
        raise ValueError(f"avg@{k} needs at least {k} samples, got {len(correct)}")
    return sum(bool(c) for c in correct[:k]) / k


def maj_at_k(answers: Sequence[Hashable | None], correct: Sequence[bool], k: int) -> float:
    """1.0 when the majority answer of the first k samples is correct, else 0.0.

    `answers[i]` is sample i's extracted (normalised) answer, None when it gave none;
    None never wins the vote. The majority answer counts as correct when the first
    sample that gave it was correct. Ties go to the answer that appeared first."""
    if k > len(answers) or len(answers) != len(correct):
        raise ValueError(f"maj@{k} needs at least {k} answers with one outcome each")
    votes = Counter(a for a in answers[:k] if a is not None)
    if not votes:
        return 0.0
    top = max(votes.values())
    winner = next(a for a in answers[:k] if a is not None and votes[a] == top)
    return float(bool(correct[list(answers).index(winner)]))
