"""Policy-gradient variance across independent batches (RLPT claims lower variance).

Given G flattened gradient vectors g_1..g_G (each from an independent batch), with
mean g_bar: total_variance = mean_i ||g_i - g_bar||^2 (the trace of the gradient
covariance, with the 1/G or, unbiased, 1/(G-1) normaliser) and per_param_variance =
total_variance / P. Also the mean squared norm and the cosine of each g_i to g_bar,
which make the variance readable next to the gradient's size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def gradient_variance(grads: Sequence[torch.Tensor], unbiased: bool = False) -> dict[str, float]:
    """grads: G >= 2 flattened gradients (P,) -> variance statistics (float64 sums)."""
    if len(grads) < 2:
        raise ValueError("gradient_variance needs at least two gradients")
    g = torch.stack([x.detach().flatten().double() for x in grads])  # (G, P)
    mean = g.mean(0)  # (P,)
    sq_dist = ((g - mean) ** 2).sum(-1)  # (G,)
    total = sq_dist.sum().item() / (len(grads) - 1 if unbiased else len(grads))
    mean_norm = mean.norm()
    cos = (g @ mean) / (g.norm(dim=-1) * mean_norm).clamp(min=1e-30)
    return {
        "total_variance": total,
        "per_param_variance": total / g.shape[1],
        "mean_grad_sq_norm": (mean_norm**2).item(),
        "mean_cosine_to_mean": cos.mean().item(),
        "num_batches": float(len(grads)),
    }
