"""DAPO's sample filters (arXiv 2503.14476): dynamic sampling and overlong filtering.

Pure helpers on (N,) tensors plus one small refill loop the trainer can call with its
own generate-and-score function. The soft overlong punishment is a reward, not a
filter: it lives in focusrl.rewards.shaping (overlong_penalty), owned by the rewards code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from focusrl.types import Sample


def equal_reward_groups(
    rewards: torch.Tensor, group_ids: torch.Tensor, atol: float = 0.0
) -> torch.Tensor:
    """(N,) bool: True for samples whose group's rewards are all equal (within atol).

    Such groups have zero group-relative advantage and give no gradient; DAPO's dynamic
    sampling drops them. A singleton group counts as all-equal. rewards (N,), group_ids (N,).
    """
    _, inverse = torch.unique(group_ids, return_inverse=True)
    n = int(inverse.max()) + 1 if inverse.numel() else 0
    r = rewards.double()
    lo = torch.full((n,), math.inf, dtype=r.dtype, device=r.device).scatter_reduce(
        0, inverse, r, "amin")
    hi = torch.full((n,), -math.inf, dtype=r.dtype, device=r.device).scatter_reduce(
        0, inverse, r, "amax")
    return ((hi - lo) <= atol)[inverse]


def overlong_filter_mask(
    finished: torch.Tensor, lengths: torch.Tensor | None = None, max_length: int | None = None
) -> torch.Tensor:
    """(N,) bool: True for samples DAPO's overlong filtering excludes from the loss.

    A sample is overlong when it stopped without EOS (`finished` False) or, when lengths
    and max_length are given, reached max_length. Apply it *after* advantages (the sample
    still counts in its group's baseline, as in DAPO) by zeroing its loss mask, so the
    token normaliser does not count it either.
    """
    over = ~finished.bool()
    if lengths is not None and max_length is not None:
        over = over | (lengths >= max_length)
    return over


def drop_equal_reward_groups(samples: Sequence[Sample], atol: float = 0.0) -> list[Sample]:
    """The samples of groups whose rewards differ, in their original order."""
    if not samples:
        return []
    rewards = torch.tensor([s.reward for s in samples], dtype=torch.double)
    groups = torch.tensor([s.group_id for s in samples])
    flat = equal_reward_groups(rewards, groups, atol)
    return [s for s, drop in zip(samples, flat.tolist()) if not drop]


@dataclass
class DynamicSamplingResult:
    samples: list[Sample]
    """Samples of at most `groups_wanted` informative groups, in generation order."""
    groups_wanted: int
    """The target number of groups."""
    groups_kept: int
    """Informative groups returned."""
    groups_generated: int
    """Groups sampled over all rounds (kept + dropped + surplus)."""
    rounds: int
    """Generation rounds used (1 = no refill needed)."""

    @property
    def filled(self) -> bool:
        """False when max_rounds ran out first: the step trains on a smaller batch."""
        return self.groups_kept >= self.groups_wanted


def collect_informative_groups(
    generate_groups: Callable[[int], list[Sample]],
    groups_wanted: int,
    max_rounds: int,
    atol: float = 0.0,
) -> DynamicSamplingResult:
    """DAPO dynamic sampling: call `generate_groups(n)` (n new prompts, scored samples,
    one fresh group id per prompt) until `groups_wanted` groups with differing rewards
    are collected or `max_rounds` calls were made. Each refill asks for the shortfall.
    Surplus informative groups of the last round are dropped, so the batch is exact.

    Departure: DAPO's verl recipe raises after its round limit; we return the smaller
    batch and report it (`filled` False) so a run degrades instead of stopping.
    """
    kept: list[Sample] = []
    kept_groups: set[int] = set()
    generated = rounds = 0
    while len(kept_groups) < groups_wanted and rounds < max_rounds:
        batch = generate_groups(groups_wanted - len(kept_groups))
        rounds += 1
        generated += len({s.group_id for s in batch})
        for s in drop_equal_reward_groups(batch, atol):
            if s.group_id not in kept_groups:
                if len(kept_groups) == groups_wanted:
                    continue  # surplus group
                kept_groups.add(s.group_id)
            kept.append(s)
    return DynamicSamplingResult(kept, groups_wanted, len(kept_groups), generated, rounds)
