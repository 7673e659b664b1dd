"""Advantage estimators: pure functions of per-sample rewards and explicit group ids.

Groups come from `group_ids`, never from batch position, so groups may be ragged.
Shapes: rewards (N,), group_ids (N,) int -> advantages (N,). Computed in float64.
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
    zeros = torch.zeros(n_groups, dtype=torch.double, device=r.device)
    count = zeros.index_add(0, inverse, torch.ones_like(r))
    mean = zeros.index_add(0, inverse, r) / count
    sq = zeros.index_add(0, inverse, (r - mean[inverse]) ** 2)
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


def grpo_batch_std_advantages(
    rewards: torch.Tensor, group_ids: torch.Tensor, cfg: AlgorithmConfig
) -> torch.Tensor:
    """Group mean, batch std: A_i = (r_i - mean_g) / (std_batch(r) + eps), the unbiased std
    of the raw rewards over the whole batch (Lite PPO, arXiv 2508.08221; TRL's
    scale_rewards="batch"). A group whose rewards are all equal gets 0, not 0/eps."""
    mean, _, _ = group_stats(rewards, group_ids)
    r = rewards.double()
    std = r.std() if r.numel() > 1 else torch.zeros((), dtype=r.dtype)
    return ((r - mean) / (std + cfg.std_eps)).to(rewards.dtype)


def rloo_advantages(
    rewards: torch.Tensor, group_ids: torch.Tensor, cfg: AlgorithmConfig
) -> torch.Tensor:
    """RLOO (Ahmadian et al., arXiv 2402.14740): A_i = r_i - mean_{j != i, same group} r_j.

    Equals n/(n-1) * (r_i - mean_g). A singleton group has no baseline: its advantage
    is 0 (departure: the paper assumes k >= 2 samples per prompt).
    """
    mean, _, count = group_stats(rewards, group_ids)
    scale = torch.where(count > 1, count / (count - 1).clamp(min=1), torch.zeros_like(count))
    return ((rewards.double() - mean) * scale).to(rewards.dtype)


def batch_normalise(x: torch.Tensor, eps: float) -> torch.Tensor:
    """(x - mean) / (std + eps) over the whole batch, computed in float64, returned in x's
    dtype; also `algorithm.batch_normalize` after any estimator (TRL RLOO's
    normalize_advantages)."""
    d = x.double()
    std = d.std() if d.numel() > 1 else torch.zeros((), dtype=d.dtype)
    return ((d - d.mean()) / (std + eps)).to(x.dtype)


def reinforce_pp_advantages(
    rewards: torch.Tensor, group_ids: torch.Tensor, cfg: AlgorithmConfig
) -> torch.Tensor:
    """REINFORCE++ (arXiv 2501.03262): rewards normalised over the whole batch,
    (r - mean_batch) / (std_batch + eps); no per-group baseline.

    Departure: the paper folds a token-level KL penalty into the return; here the KL is
    a loss term (kl_coef), so the return is the outcome reward. Batch = the N samples
    passed in (the trainer passes the whole step).
    """
    return batch_normalise(rewards, cfg.std_eps)


def reinforce_pp_baseline_advantages(
    rewards: torch.Tensor, group_ids: torch.Tensor, cfg: AlgorithmConfig
) -> torch.Tensor:
    """REINFORCE++-baseline (arXiv 2501.03262): subtract the group mean, then normalise
    over the batch: ((r - mean_g) - mean_batch) / (std_batch + eps)."""
    mean, _, _ = group_stats(rewards, group_ids)
    return batch_normalise(rewards.double() - mean, cfg.std_eps).to(rewards.dtype)


def gdpo_advantages(
    part_rewards: torch.Tensor, weights: torch.Tensor, group_ids: torch.Tensor,
    cfg: AlgorithmConfig,
) -> torch.Tensor:
    """GDPO (arXiv 2601.05242): normalise each reward part within its group,
    (r_k - mean_g,k) / (std_g,k + eps), sum the parts with their weights, then normalise the
    sum over the batch. Summing first (GRPO) lets the part with the largest spread set
    every group's scale; GDPO keeps each part's own resolution. TRL's
    multi_objective_aggregation="normalize_then_sum".

    Shapes: part_rewards (N, P), weights (P,) -> (N,). It needs the parts, so the trainer
    calls it for advantage=gdpo instead of going through `ADVANTAGES`."""
    r = part_rewards.double()
    normalised = torch.stack([grpo_advantages(r[:, k], group_ids, cfg)
                              for k in range(r.shape[1])], dim=1)
    summed = normalised @ weights.double()
    return batch_normalise(summed, cfg.std_eps).to(part_rewards.dtype)


AdvantageFn = Callable[[torch.Tensor, torch.Tensor, AlgorithmConfig], torch.Tensor]

ADVANTAGES: dict[str, AdvantageFn] = {
    "grpo": grpo_advantages,
    "dr_grpo": dr_grpo_advantages,
    "grpo_batch_std": grpo_batch_std_advantages,
    "rloo": rloo_advantages,
    "reinforce_pp": reinforce_pp_advantages,
    "reinforce_pp_baseline": reinforce_pp_baseline_advantages,
}
PART_ADVANTAGES = {"gdpo": gdpo_advantages}
"""Estimators that read each reward part (Sample.reward_parts), not the combined reward."""
