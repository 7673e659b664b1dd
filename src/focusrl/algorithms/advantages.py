"""Advantage estimators: pure functions of per-sample rewards and explicit group ids.

Groups come from `group_ids`, never from batch position, so groups may be ragged.
Shapes: rewards (N,), group_ids (N,) int -> advantages (N,).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from focusrl.algorithms.config import AlgorithmConfig


def group_stats(rewards: torch.Tensor, group_ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-sample group mean, unbiased group std (0 for singleton groups) and group size."""
    _, inverse = torch.unique(group_ids, return_inverse=True)
    n_groups = int(inverse.max()) + 1 if inverse.numel() else 0
    r = rewards.double()
    count = torch.zeros(n_groups, dtype=torch.double).index_add_(0, inverse, torch.ones_like(r))
    total = torch.zeros(n_groups, dtype=torch.double).index_add_(0, inverse, r)
    mean = total / count
    sq = torch.zeros(n_groups, dtype=torch.double).index_add_(0, inverse, (r - mean[inverse]) ** 2)
    std = torch.where(count > 1, (sq / (count - 1).clamp(min=1)).sqrt(), torch.zeros_like(sq))
    return mean[inverse], std[inverse], count[inverse]


def grpo_advantages(
    rewards: torch.Tensor, group_ids: torch.Tensor, cfg: AlgorithmConfig
) -> torch.Tensor:
    """GRPO (arXiv 2402.03300): A_i = (r_i - mean_g) / (std_g + eps).

    With `std_normalize=False` this is Dr.GRPO's (arXiv 2503.20783) mean-only advantage.
    The std is the unbiased sample std, as in TRL.
    """
    mean, std, _ = group_stats(rewards, group_ids)
    adv = rewards.double() - mean
    if cfg.std_normalize:
        adv = adv / (std + cfg.std_eps)
    return adv.to(rewards.dtype)


def dr_grpo_advantages(
    rewards: torch.Tensor, group_ids: torch.Tensor, cfg: AlgorithmConfig
) -> torch.Tensor:
    """Dr.GRPO: group-centred rewards without std division."""
    mean, _, _ = group_stats(rewards, group_ids)
    return (rewards.double() - mean).to(rewards.dtype)


AdvantageFn = Callable[[torch.Tensor, torch.Tensor, AlgorithmConfig], torch.Tensor]

ADVANTAGES: dict[str, AdvantageFn] = {
    "grpo": grpo_advantages,
    "dr_grpo": dr_grpo_advantages,
}
