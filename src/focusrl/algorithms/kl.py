"""KL estimators between the policy and a reference, per token (Schulman, 2020).

d = logp_ref - logp (log of the ratio ref/policy), clamped to [-clamp, clamp]:
k1 = -d, k2 = d^2 / 2, k3 = exp(d) - d - 1. Shapes: (B, T) in, (B, T) out.
"""

from __future__ import annotations

import torch


def kl_estimate(
    logp: torch.Tensor, ref_logp: torch.Tensor, estimator: str = "k3", clamp: float = 10.0
) -> torch.Tensor:
    d = ref_logp - logp
    if clamp > 0:
        d = d.clamp(-clamp, clamp)
    if estimator == "k1":
        return -d
    if estimator == "k2":
        return 0.5 * d**2
    if estimator == "k3":
        return torch.exp(d) - d - 1
    raise ValueError(f"unknown KL estimator {estimator!r}; use k1, k2 or k3")
