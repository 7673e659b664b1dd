"""Policy losses: pure functions of one typed input record.

Every loss returns per-token terms that `aggregate` turns into a scalar. Normalisers
(`num_tokens`, `num_sequences`) count the *whole* optimiser batch, so summing the
losses of its micro-batches gives exactly the loss of the full batch.
Shapes: (B, T) for token tensors, (B,) for per-sequence advantages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from focusrl.algorithms.config import AlgorithmConfig
from focusrl.algorithms.kl import kl_estimate


@dataclass
class LossInput:
    logp: torch.Tensor
    """(B, T) log-probs of the taken tokens under the current policy (with grad)."""
    old_logp: torch.Tensor
    """(B, T) log-probs under the policy that generated the batch (no grad)."""
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
    """(B, T) log-probs under the frozen reference, when KL is on."""
    entropy: torch.Tensor | None = None
    """(B, T) policy entropy per position (with grad when an entropy bonus is used)."""


@dataclass
class LossOutput:
    loss: torch.Tensor
    """Scalar to backpropagate (this micro-batch's share of the batch loss)."""
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)
    """Sums over this micro-batch's valid tokens (divide by num_tokens for means)."""


def aggregate(per_token: torch.Tensor, inp: LossInput, mode: str) -> torch.Tensor:
    """Reduce (B, T) per-token losses to this micro-batch's share of the batch loss."""
    m = inp.mask
    if mode == "token_mean":
        return (per_token * m).sum() / max(inp.num_tokens, 1.0)
    seq_sum = (per_token * m).sum(-1)  # (B,)
    if mode == "seq_mean_token_mean":
        return (seq_sum / m.sum(-1).clamp(min=1)).sum() / max(inp.num_sequences, 1.0)
    if mode == "seq_mean_token_sum_norm":
        return (seq_sum / max(inp.max_length, 1)).sum() / max(inp.num_sequences, 1.0)
    raise ValueError(f"unknown aggregation {mode!r}")


def _token_advantages(inp: LossInput) -> torch.Tensor:
    adv = inp.advantages
    return adv.unsqueeze(-1).expand_as(inp.logp) if adv.dim() == 1 else adv


def add_regularisers(
    per_token: torch.Tensor, inp: LossInput, cfg: AlgorithmConfig, metrics: dict
) -> torch.Tensor:
    """Add the KL penalty to the reference and the entropy bonus, per token."""
    if cfg.kl_coef > 0 and inp.ref_logp is not None:
        kl = kl_estimate(inp.logp, inp.ref_logp, cfg.kl_estimator, cfg.kl_clamp)
        per_token = per_token + cfg.kl_coef * kl
        metrics["kl"] = (kl.detach() * inp.mask).sum()
    if cfg.entropy_coef != 0 and inp.entropy is not None:
        per_token = per_token - cfg.entropy_coef * inp.entropy
    return per_token


def ppo_clip_loss(inp: LossInput, cfg: AlgorithmConfig) -> LossOutput:
    """GRPO's PPO clipped-ratio loss (arXiv 2402.03300), per token:

    ratio = exp(logp - old_logp); loss = max(-A * ratio, -A * clip(ratio, 1-el, 1+eh)).
    A token whose clipped term wins gets no gradient through its ratio. Setting
    clip_eps_high > clip_eps_low gives DAPO's clip-higher.
    """
    adv = _token_advantages(inp)
    log_ratio = inp.logp - inp.old_logp
    ratio = torch.exp(log_ratio)
    unclipped = -adv * ratio
    clipped = -adv * torch.clamp(ratio, 1 - cfg.clip_eps_low, 1 + cfg.clip_eps_high)
    per_token = torch.maximum(unclipped, clipped)
    metrics = {
        "clip_frac": ((clipped > unclipped).float() * inp.mask).sum(),
        "ratio": (ratio.detach() * inp.mask).sum(),
    }
    per_token = add_regularisers(per_token, inp, cfg, metrics)
    return LossOutput(aggregate(per_token, inp, cfg.aggregation), metrics)


LossFn = Callable[[LossInput, AlgorithmConfig], LossOutput]

LOSSES: dict[str, LossFn] = {
    "grpo": ppo_clip_loss,
}
