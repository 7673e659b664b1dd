"""The loss input/output records and what every policy loss shares: aggregation and
the KL/entropy regularisers. Losses live in `losses.py` and `entropy_losses.py`.

Normalisers (`num_tokens`, `num_sequences`, `max_length`) count the *whole* optimiser
batch, so summing the losses of its micro-batches gives exactly the loss of the full
batch. Shapes: (B, T) for token tensors, (B,) for per-sequence advantages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from focusrl.algorithms.config import AlgorithmConfig
from focusrl.algorithms.kl import kl_estimate


@dataclass
class LossInput:
    logp: torch.Tensor
    """(B, T) log-probs of the taken tokens under the current policy (with grad);
    under RLPT, on the distribution restricted to the stored support."""
    old_logp: torch.Tensor
    """(B, T) log-probs under the policy that generated the batch (no grad), restricted
    the same way as `logp`."""
    advantages: torch.Tensor
    """(B,) per-sequence or (B, T) per-token advantages."""
    mask: torch.Tensor
    """(B, T) float, 1 on response tokens that enter the loss."""
    num_tokens: float
    """Valid tokens in the whole optimiser batch (token_mean normaliser)."""
    num_sequences: float
    """Sequences in the whole optimiser batch."""
    max_length: int = 1
    """Constant normaliser of seq_mean_token_sum_norm (Dr.GRPO)."""
    ref_logp: torch.Tensor | None = None
    """(B, T) log-probs under the frozen reference (restricted like `logp`), when KL is on."""
    entropy: torch.Tensor | None = None
    """(B, T) policy entropy per position (with grad when an entropy bonus is used)."""
    proxy_logp: torch.Tensor | None = None
    """(B, T) Lp-Reg proxy log-prob of the taken token, no grad (logprobs.token_stats)."""
    generator: torch.Generator | None = None
    """Randomness of Clip-Cov's token choice (None: torch's global generator)."""
    token_weight: torch.Tensor | None = None
    """(B, T) detached weights on the policy term (train-inference mismatch corrections:
    truncated IS, masked sequences); None means 1. The KL and entropy terms are not
    weighted."""


@dataclass
class LossOutput:
    loss: torch.Tensor
    """Scalar to backpropagate (this micro-batch's share of the batch loss)."""
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)
    """Sums over this micro-batch's valid tokens (divide by num_tokens for means)."""


def aggregate(per_token: torch.Tensor, inp: LossInput, mode: str) -> torch.Tensor:
    """Reduce (B, T) per-token losses to this micro-batch's share of the batch loss."""
    m = inp.mask
    # where, not a product: a masked position may hold inf/NaN garbage.
    masked = torch.where(m > 0, per_token * m, torch.zeros_like(per_token))
    if mode == "token_mean":
        return masked.sum() / max(inp.num_tokens, 1.0)
    seq_sum = masked.sum(-1)  # (B,)
    if mode == "seq_mean_token_mean":
        return (seq_sum / m.sum(-1).clamp(min=1)).sum() / max(inp.num_sequences, 1.0)
    if mode == "seq_mean_token_sum_norm":
        return (seq_sum / max(inp.max_length, 1)).sum() / max(inp.num_sequences, 1.0)
    raise ValueError(f"unknown aggregation {mode!r}")


def token_advantages(inp: LossInput) -> torch.Tensor:
    """(B,) or (B, T) advantages -> (B, T)."""
    adv = inp.advantages
    return adv.unsqueeze(-1).expand_as(inp.logp) if adv.dim() == 1 else adv


def masked_sum(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Detached sum of x over valid tokens (the metric convention)."""
    return torch.where(mask > 0, x.detach().float() * mask, torch.zeros_like(mask)).sum()


def ppo_clip_terms(
    ratio: torch.Tensor, adv: torch.Tensor, eps_low: float, eps_high: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO clipped surrogate per token: max(-A r, -A clip(r, 1-el, 1+eh)) and a bool
    (B, T) `clipped` marking tokens whose clipped term wins (they get no gradient)."""
    unclipped = -adv * ratio
    clipped = -adv * torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
    return torch.maximum(unclipped, clipped), clipped > unclipped


def add_regularisers(
    per_token: torch.Tensor, inp: LossInput, cfg: AlgorithmConfig, metrics: dict
) -> torch.Tensor:
    """Add the KL penalty to the reference and the entropy bonus, per token, so they are
    aggregated like the policy term. Under RLPT both see the restricted distributions."""
    if cfg.kl_coef > 0 and inp.ref_logp is not None:
        kl = kl_estimate(inp.logp, inp.ref_logp, cfg.kl_estimator, cfg.kl_clamp)
        if cfg.kl_importance_weighted:  # samples come from pi_old, the estimate is for pi
            kl = kl * torch.exp(inp.logp - inp.old_logp)
        per_token = per_token + cfg.kl_coef * kl
        metrics["kl"] = masked_sum(kl, inp.mask)
    if inp.entropy is not None:
        metrics["entropy"] = masked_sum(inp.entropy, inp.mask)
        if cfg.entropy_coef != 0:
            per_token = per_token - cfg.entropy_coef * inp.entropy
    return per_token


def finish(
    per_token: torch.Tensor, inp: LossInput, cfg: AlgorithmConfig, metrics: dict
) -> LossOutput:
    """Weight the policy term (mismatch corrections), regularise, aggregate, and package:
    the last step of every loss."""
    if inp.token_weight is not None:
        per_token = per_token * inp.token_weight
    per_token = add_regularisers(per_token, inp, cfg, metrics)
    return LossOutput(aggregate(per_token, inp, cfg.aggregation), metrics)
