"""Length shaping: DAPO's soft overlong punishment and LASER / LASER-D length bonuses.

All formulas are pure functions; the rewarder classes only read lengths (response
tokens) and an earlier reward part from the samples.

Where we depart from the papers:
- LASER (Liu et al. 2025, "Learn to Reason Efficiently with Adaptive Length-based Reward
  Shaping") writes the shaped reward as C(y) + lambda * S(L(y)). Here the length term is
  its own reward part (`laser`) that returns only the bonus alpha * 1[correct and
  L(y) <= target]; the correctness part is a separate part, so both are logged apart and
  the weighted sum gives back the paper's total.
- LASER-D adapts the target per difficulty bucket from a monitoring set every few steps.
  We adapt from the current batch: a group's difficulty is its accuracy (easy >= 2/3,
  hard < 1/3, medium between), and the bucket's target is the smallest candidate budget
  whose expected number of correct responses per group within it (ECR = K * P[correct
  and L <= budget]) reaches `min_expected_correct` (the paper's ECR rule, with K the
  group size). A bucket with no budget reaching it uses the largest budget.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from focusrl.types import Sample


def overlong_penalty(length: int, max_length: int, cache_length: int) -> float:
    """DAPO soft overlong punishment (arXiv 2503.14476, eq. 13).

    0 when length <= max_length - cache_length; ((max_length - cache_length) - length) /
    cache_length inside the buffer (falls linearly from 0 to -1); -1 beyond max_length.
    """
    if cache_length < 0 or cache_length > max_length:
        raise ValueError(f"overlong_penalty: need 0 <= cache_length <= max_length, got "
                         f"cache_length={cache_length}, max_length={max_length}.")
    budget = max_length - cache_length
    if length <= budget:
        return 0.0
    if length <= max_length:
        return (budget - length) / cache_length
    return -1.0


def laser_bonus(correct: bool, length: int, target_length: int, alpha: float) -> float:
    """LASER step bonus: alpha when the response is correct and at most target_length."""
    return alpha if correct and length <= target_length else 0.0


def difficulty_bucket(group_accuracy: float) -> str:
    """LASER-D buckets by the group's accuracy: easy >= 2/3, hard < 1/3, else medium."""
    if group_accuracy >= 2 / 3:
        return "easy"
    if group_accuracy < 1 / 3:
        return "hard"
    return "medium"


def ecr_target(correct: Sequence[bool], lengths: Sequence[int], group_size: float,
               budgets: Sequence[int], min_expected_correct: float = 1.0) -> int:
    """Smallest budget b with group_size * P[correct and length <= b] >= min_expected_correct
    (P over the given responses); the largest budget when none qualifies."""
    if not budgets:
        raise ValueError("ecr_target: give at least one candidate budget.")
    n = len(correct)
    for b in sorted(budgets):
        p = sum(c and ln <= b for c, ln in zip(correct, lengths)) / n if n else 0.0
        if group_size * p >= min_expected_correct:
            return b
    return max(budgets)


def _correctness(samples: Sequence[Sample], part: str, threshold: float) -> list[bool]:
    out = []
    for s in samples:
        if part not in s.reward_parts:
            raise KeyError(f"length shaping reads the correctness part '{part}', which this "
                           f"sample does not have yet (parts so far: {sorted(s.reward_parts)})"
                           "; list that part before this one in rewards.parts, or set "
                           "correct_part to its name.")
        out.append(s.reward_parts[part] >= threshold)
    return out


class OverlongReward:
    """DAPO soft overlong punishment as a reward part (0 down to -1)."""

    def __init__(self, max_length: int, cache_length: int):
        overlong_penalty(0, max_length, cache_length)  # validates the arguments
        self.max_length = max_length
        self.cache_length = cache_length

    def score(self, samples: Sequence[Sample]) -> list[float]:
        return [overlong_penalty(s.num_response_tokens, self.max_length, self.cache_length)
                for s in samples]


class LaserReward:
    """LASER: bonus `alpha` for a correct response of at most `target_length` tokens."""

    def __init__(self, target_length: int, alpha: float = 0.5, correct_part: str = "correct",
                 correct_threshold: float = 1.0):
        if target_length < 1:
            raise ValueError(f"laser: target_length must be >= 1 token, got {target_length}.")
        self.target_length = target_length
        self.alpha = alpha
        self.correct_part = correct_part
        self.correct_threshold = correct_threshold

    def score(self, samples: Sequence[Sample]) -> list[float]:
        correct = _correctness(samples, self.correct_part, self.correct_threshold)
        return [laser_bonus(c, s.num_response_tokens, self.target_length, self.alpha)
                for c, s in zip(correct, samples)]


class LaserDReward:
    """LASER-D: the LASER bonus with a target length per difficulty bucket (see module
    docstring); `last_targets` holds the targets of the last batch for logging."""

    def __init__(self, budgets: Sequence[int] = (1024, 2048, 4096, 8192), alpha: float = 0.5,
                 correct_part: str = "correct", correct_threshold: float = 1.0,
                 min_expected_correct: float = 1.0):
        if not budgets or min(budgets) < 1:
            raise ValueError(f"laser_d: budgets must be positive token counts, got {budgets}.")
        self.budgets = sorted(int(b) for b in budgets)
        self.alpha = alpha
        self.correct_part = correct_part
        self.correct_threshold = correct_threshold
        self.min_expected_correct = min_expected_correct
        self.last_targets: dict[str, int] = {}

    def score(self, samples: Sequence[Sample]) -> list[float]:
        correct = _correctness(samples, self.correct_part, self.correct_threshold)
        groups: dict[int, list[int]] = defaultdict(list)
        for i, s in enumerate(samples):
            groups[s.group_id].append(i)
        bucket_of: dict[int, str] = {}
        members: dict[str, list[int]] = defaultdict(list)
        sizes: dict[str, list[int]] = defaultdict(list)
        for gid, idx in groups.items():
            bucket = difficulty_bucket(sum(correct[i] for i in idx) / len(idx))
            bucket_of[gid] = bucket
            members[bucket].extend(idx)
            sizes[bucket].append(len(idx))
        self.last_targets = {
            b: ecr_target([correct[i] for i in idx],
                          [samples[i].num_response_tokens for i in idx],
                          sum(sizes[b]) / len(sizes[b]), self.budgets,
                          self.min_expected_correct)
            for b, idx in members.items()
        }
        return [laser_bonus(c, s.num_response_tokens, self.last_targets[bucket_of[s.group_id]],
                            self.alpha) for c, s in zip(correct, samples)]
