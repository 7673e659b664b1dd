"""Train-inference mismatch corrections: pure functions of (B, T) tensors.

An engine's sampling probabilities differ from the trainer's recompute of the same
policy (other kernels, precision, a vLLM engine), so even "on-policy" RL is slightly
off-policy (Yao et al. 2025, "Your efficient RL framework secretly brings you
off-policy RL training"). With r_t = pi_train(y_t) / pi_engine(y_t):
- truncated importance sampling (TIS): the policy term of token t is weighted by
  min(r_t, C), detached;
- masked importance sampling at the sequence level (MIS): a sample whose geometric-mean
  ratio exp(mean_t log r_t) lies outside [1/thr, thr] gets weight 0.
Departures: verl and SkyRL also offer token-level masking and the sequence-level
product ratio; we keep the two variants the paper and those frameworks default to, and
use the geometric mean (length-independent) for MIS. Masked samples still count in the
loss normalisers, so masking never rescales the other samples' gradients.
"""

from __future__ import annotations

import torch


def mismatch_weights(
    trainer_logp: torch.Tensor,
    engine_logp: torch.Tensor,
    mask: torch.Tensor,
    tis_cap: float = 0.0,
    mis_threshold: float = 0.0,
) -> tuple[torch.Tensor | None, dict[str, float]]:
    """(B, T) trainer and engine log-probs of the sampled tokens, (B, T) float mask ->
    (weights (B, T) or None when both corrections are off, statistics).

    Statistics (sums, to be normalised by the caller): `mismatch_kl` (k3 estimate of
    KL(pi_engine || pi_train) summed over valid tokens), `is_weight` (sum of r_t),
    `is_weight_max`, `tis_clipped` (tokens with r_t > C), `mis_masked` (sequences masked).
    """
    valid = mask > 0
    log_r = torch.where(valid, trainer_logp - engine_logp, torch.zeros_like(trainer_logp))
    ratio = torch.exp(log_r)
    k3 = ratio - 1 - log_r
    zero = torch.zeros_like(ratio)
    stats = {
        "mismatch_kl": float(torch.where(valid, k3, zero).sum()),
        "is_weight": float(torch.where(valid, ratio, zero).sum()),
        "is_weight_max": float(torch.where(valid, ratio, zero).max()) if ratio.numel() else 0.0,
        "tis_clipped": 0.0,
        "mis_masked": 0.0,
    }
    weight = None
    if tis_cap > 0:
        weight = ratio.clamp(max=tis_cap)
        stats["tis_clipped"] = float((valid & (ratio > tis_cap)).sum())
    if mis_threshold > 0:
        lengths = valid.sum(-1)
        geo = torch.exp(log_r.sum(-1) / lengths.clamp(min=1))  # (B,)
        bad = (lengths > 0) & ((geo > mis_threshold) | (geo < 1.0 / mis_threshold))
        keep = (~bad).to(ratio.dtype).unsqueeze(-1)
        weight = keep.expand_as(ratio) if weight is None else weight * keep
        stats["mis_masked"] = float(bad.sum())
    return (weight.detach() if weight is not None else None), stats
