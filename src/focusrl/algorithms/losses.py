"""Policy losses: registered pure functions of one typed input record (`LossInput`).

Every loss builds per-token terms; `finish` adds the KL/entropy regularisers and
aggregates them (see loss_core). Under RLPT nothing changes here: the trainer fills
`logp`, `old_logp`, `ref_logp` and `entropy` from the restricted distributions.
Shapes: (B, T) for token tensors, (B,) for per-sequence advantages.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from focusrl.algorithms.config import AlgorithmConfig
from focusrl.algorithms.entropy_losses import clip_cov_loss, kl_cov_loss, lp_reg_loss
from focusrl.algorithms.loss_core import (
    LossInput,
    LossOutput,
    add_regularisers,
    aggregate,
    finish,
    masked_sum,
    ppo_clip_terms,
    token_advantages,
)


def ppo_clip_loss(inp: LossInput, cfg: AlgorithmConfig) -> LossOutput:
    """GRPO's PPO clipped-ratio loss (arXiv 2402.03300), per token:

    ratio = exp(logp - old_logp); loss = max(-A * ratio, -A * clip(ratio, 1-el, 1+eh)).
    A token whose clipped term wins gets no gradient through its ratio. Registered as
    grpo, dapo and dr_grpo: DAPO (arXiv 2503.14476) and Dr.GRPO (arXiv 2503.20783) use
    this same per-token term and differ in config only (aggregation, clip_eps_high,
    advantage, dynamic sampling, overlong handling; AlgorithmConfig.validate checks the
    aggregation each name promises). Departure: GRPO's KL is inside the loss (k3), as in
    the paper; the entropy bonus is aggregated like the policy term (TRL: a token mean).
    """
    ratio = torch.exp(inp.logp - inp.old_logp)  # (B, T)
    per_token, clipped = ppo_clip_terms(
        ratio, token_advantages(inp), cfg.clip_eps_low, cfg.clip_eps_high)
    metrics = {"clip_frac": masked_sum(clipped, inp.mask), "ratio": masked_sum(ratio, inp.mask)}
    return finish(per_token, inp, cfg, metrics)


def gspo_loss(inp: LossInput, cfg: AlgorithmConfig) -> LossOutput:
    """GSPO (arXiv 2507.18071): one length-normalised ratio per sequence,

    s_i = exp(mean_t (logp - old_logp)), clipped to [1 - 3e-4, 1 + 4e-4] by default.
    Written as GSPO-token: s_it = sg(s_i) * exp(logp_t - sg(logp_t)), whose value is s_i
    and whose gradient, for a per-sequence advantage, equals GSPO's under any aggregation;
    with (B, T) advantages it is the paper's GSPO-token. The paper averages per sequence:
    use aggregation seq_mean_token_mean (examples/gspo.yaml).
    """
    m = inp.mask
    log_ratio = torch.where(m > 0, inp.logp - inp.old_logp, torch.zeros_like(inp.logp))
    seq_log_ratio = log_ratio.sum(-1, keepdim=True) / m.sum(-1, keepdim=True).clamp(min=1)
    log_s = seq_log_ratio.detach() + inp.logp - inp.logp.detach()  # (B, T), value log s_i
    ratio = torch.exp(log_s)
    per_token, clipped = ppo_clip_terms(
        ratio, token_advantages(inp), cfg.gspo_clip_eps_low, cfg.gspo_clip_eps_high)
    metrics = {"clip_frac": masked_sum(clipped, m), "ratio": masked_sum(ratio, m)}
    return finish(per_token, inp, cfg, metrics)


def cispo_loss(inp: LossInput, cfg: AlgorithmConfig) -> LossOutput:
    """CISPO (MiniMax-M1, arXiv 2506.13585): -sg(min(ratio, ratio_max)) * A * logp.

    Every token keeps its gradient (only the IS weight is clipped, and detached). The
    paper's weight clip has an unused lower bound; we, like TRL, clamp above only.
    The paper aggregates token_mean.
    """
    ratio = torch.exp(inp.logp - inp.old_logp)
    weight = torch.clamp(ratio, max=cfg.cispo_ratio_max).detach()
    per_token = -weight * token_advantages(inp) * inp.logp
    metrics = {
        "clip_frac": masked_sum(ratio > cfg.cispo_ratio_max, inp.mask),
        "ratio": masked_sum(ratio, inp.mask),
    }
    return finish(per_token, inp, cfg, metrics)


LossFn = Callable[[LossInput, AlgorithmConfig], LossOutput]

LOSSES: dict[str, LossFn] = {
    "grpo": ppo_clip_loss,
    "dapo": ppo_clip_loss,
    "dr_grpo": ppo_clip_loss,
    "gspo": gspo_loss,
    "cispo": cispo_loss,
    "clip_cov": clip_cov_loss,
    "kl_cov": kl_cov_loss,
    "lp_reg": lp_reg_loss,
}


def needs_logits(cfg: AlgorithmConfig) -> bool:
    """True when the loss needs more than the taken token's log-prob from the forward
    pass: Lp-Reg's proxy (a min-p renormalisation of the whole distribution)."""
    return cfg.loss == "lp_reg"


def token_stats_kwargs(cfg: AlgorithmConfig) -> dict:
    """Keyword arguments for logprobs.token_stats so it returns what the loss reads."""
    return {
        "with_entropy": cfg.entropy_coef != 0,
        "proxy_min_p": cfg.lp_reg_min_p if needs_logits(cfg) else None,
    }


__all__ = [
    "LOSSES", "LossFn", "LossInput", "LossOutput", "add_regularisers", "aggregate",
    "cispo_loss", "gspo_loss", "needs_logits", "ppo_clip_loss", "token_stats_kwargs",
]
