"""KL estimators between the policy and a reference, per token (Schulman, 2020).

d = logp_ref - logp (log of the ratio ref/policy at a token sampled from the policy),
clamped to [-clamp, clamp] (clamp 0 disables it):
k1 = -d (unbiased, can be negative), k2 = d^2 / 2 (biased, low variance),
k3 = exp(d) - d - 1 (unbiased, always >= 0; GRPO's choice, arXiv 2402.03300).
All three estimate KL(policy || ref). Where the clamp is active the token gets no
gradient from the estimator: the clamp trades exactness for stability on outliers.
Shapes: (B, T) in, (B, T) out.
"""

from __future__ import annotations

import torch

KL_ESTIMATORS = ("k1", "k2", "k3")


def kl_estimate(
    logp: torch.Tensor, ref_logp: torch.Tensor, estimator: str = "k3", clamp: float = 10.0
) -> torch.Tensor:
    """Per-token KL(policy || ref) estimate; gradient flows through `logp` only."""
    d = ref_logp.detach() - logp
    if clamp > 0:
        d = d.clamp(-clamp, clamp)
    if estimator == "k1":
        return -d
    if estimator == "k2":
        return 0.5 * d**2
    if estimator == "k3":
        return torch.exp(d) - d - 1
    raise ValueError(f"unknown KL estimator {estimator!r}; use k1, k2 or k3")
