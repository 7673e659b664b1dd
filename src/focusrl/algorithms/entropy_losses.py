"""Entropy-control losses: Clip-Cov, KL-Cov (arXiv 2505.22617) and Lp-Reg (arXiv 2510.03222).

Each picks a few tokens by a statistic of this micro-batch's valid tokens and treats
them differently. Departure, shared by all three (and by verl's Clip-Cov/KL-Cov): the
statistics are over the tokens the loss sees, i.e. the micro-batch, not the whole
optimiser batch; micro-batch losses then sum to the batch loss only approximately.
Shapes: (B, T) token tensors.
"""

from __future__ import annotations

import torch

from focusrl.algorithms.config import AlgorithmConfig
from focusrl.algorithms.kl import kl_estimate
from focusrl.algorithms.loss_core import (
    LossInput,
    LossOutput,
    finish,
    masked_sum,
    ppo_clip_terms,
    token_advantages,
)


def centred_covariance(adv: torch.Tensor, logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-token cov = (A - mean A)(logp - mean logp), means over valid tokens (B, T), no grad.

    The paper's (arXiv 2505.22617, Eq. 7) contribution of each token to Cov(logp, A),
    which drives the entropy change; -inf on masked positions so they are never chosen.
    """
    valid = mask > 0
    n = valid.sum().clamp(min=1)
    a, lp = adv.detach(), logp.detach()
    mean_a = torch.where(valid, a, torch.zeros_like(a)).sum() / n
    mean_lp = torch.where(valid, lp, torch.zeros_like(lp)).sum() / n
    cov = (a - mean_a) * (lp - mean_lp)
    return cov.masked_fill(~valid, float("-inf"))


def _count(share: float, n: int) -> int:
    """How many of n tokens a share selects: at least one when any exist (as verl)."""
    return min(n, max(1, int(share * n))) if n > 0 else 0


def clip_cov_loss(inp: LossInput, cfg: AlgorithmConfig) -> LossOutput:
    """Clip-Cov: PPO clip loss, but among unclipped valid tokens with lb < cov < ub, a
    random `clip_cov_ratio` share (of all valid tokens, at least one) is detached.

    Follows verl's implementation (clip_cov_lb 1, clip_cov_ub 5, ratio 2e-4, PPO-clipped
    tokens excluded). Departure: verl multiplies the chosen tokens' loss by 0; we detach
    it, so the gradient is the same but the logged loss still contains their value.
    """
    adv = token_advantages(inp)
    ratio = torch.exp(inp.logp - inp.old_logp)
    per_token, clipped = ppo_clip_terms(ratio, adv, cfg.clip_eps_low, cfg.clip_eps_high)
    cov = centred_covariance(adv, inp.logp, inp.mask)
    window = (cov > cfg.clip_cov_lb) & (cov < cfg.clip_cov_ub) & ~clipped  # (B, T)
    candidates = window.flatten().nonzero().squeeze(-1)
    n_pick = min(_count(cfg.clip_cov_ratio, int((inp.mask > 0).sum())), candidates.numel())
    order = torch.randperm(candidates.numel(), generator=inp.generator).to(window.device)
    detached = torch.zeros(window.numel(), dtype=torch.bool, device=window.device)
    detached[candidates[order[:n_pick]]] = True
    detached = detached.view_as(window)
    per_token = torch.where(detached, per_token.detach(), per_token)
    metrics = {
        "clip_frac": masked_sum(clipped, inp.mask),
        "ratio": masked_sum(ratio, inp.mask),
        "cov_detached": masked_sum(detached, inp.mask),
    }
    return finish(per_token, inp, cfg, metrics)


def kl_cov_loss(inp: LossInput, cfg: AlgorithmConfig) -> LossOutput:
    """KL-Cov: unclipped policy gradient -A * ratio, plus kl_cov_coef * |logp - old_logp|
    on the top `kl_cov_ratio` share (at least one) of valid tokens by covariance.

    As in the paper and verl, KL-Cov replaces the PPO clip (no clipping at all).
    """
    adv = token_advantages(inp)
    log_ratio = inp.logp - inp.old_logp
    ratio = torch.exp(log_ratio)
    cov = centred_covariance(adv, inp.logp, inp.mask).flatten()
    n_pick = _count(cfg.kl_cov_ratio, int((inp.mask > 0).sum()))
    chosen = torch.zeros_like(cov, dtype=torch.bool)
    chosen[torch.topk(cov, n_pick).indices] = True
    chosen = chosen.view_as(log_ratio)
    per_token = -adv * ratio + cfg.kl_cov_coef * log_ratio.abs() * chosen
    metrics = {
        "clip_frac": torch.zeros(()),
        "ratio": masked_sum(ratio, inp.mask),
        "cov_selected": masked_sum(chosen, inp.mask),
    }
    return finish(per_token, inp, cfg, metrics)


# The authors' regulariser is verl's "low_var_kl": k3 clamped to [-10, 10] on its *output*
# (focusrl's kl_clamp clamps the log-ratio instead), so a token whose proxy probability is
# far above its own (k3 > 10, about 13x) gets no gradient from the term.
LP_REG_KL_CAP = 10.0


def lp_reg_selection(
    adv: torch.Tensor, logp: torch.Tensor, proxy_logp: torch.Tensor, mask: torch.Tensor,
    rho: float,
) -> torch.Tensor:
    """(B, T) bool: the tokens Lp-Reg regularises, by the authors' rule (Lp-Reg-dev,
    verl/trainer/ppo/core_algos.py, compute_policy_loss_lp_reg).

    Among valid tokens with negative advantage (n of them), take the k = max(1, int(rho n))
    with the lowest current log-prob FIRST; if k <= 1 nothing is regularised; otherwise keep
    those whose log-prob is below the proxy's (a token the proxy dropped never is).
    """
    neg = ((mask > 0) & (adv < 0)).flatten().nonzero().squeeze(-1)
    chosen = torch.zeros(mask.numel(), dtype=torch.bool, device=mask.device)
    k = max(1, int(rho * neg.numel())) if neg.numel() > 0 else 0
    if k > 1:
        lp = logp.detach().flatten()
        lowest = neg[torch.topk(-lp[neg], k).indices]
        chosen[lowest[lp[lowest] < proxy_logp.detach().flatten()[lowest]]] = True
    return chosen.view_as(mask)


def lp_reg_loss(inp: LossInput, cfg: AlgorithmConfig) -> LossOutput:
    """Lp-Reg: PPO clip loss, but on the selected tokens -A * ratio (unclipped) plus
    lp_reg_coef * k3-KL(policy || proxy), pulling their probability up towards the proxy's.

    The proxy (logprobs.token_stats with proxy_min_p) drops tokens below min_p * max
    probability and renormalises, so a kept token has proxy_logp > logp. Token selection,
    the skip when the count is <= 1, the unclipped term and the capped k3 follow the
    authors' code (`lp_reg_selection`, LP_REG_KL_CAP); their default positive-advantage
    share is 0, so only negative tokens are regularised, as here. Departure: the proxy is
    the min-p renormalisation of the *current* policy in the same forward pass; the
    authors' scripts (minp_old_log_prob=True) take it from the rollout policy's log-probs,
    which is the same on-policy but not across several updates on one batch. Dropped
    tokens get -inf where the authors use a logit of -1e4 (the same selection).
    """
    if inp.proxy_logp is None:
        raise ValueError("lp_reg needs LossInput.proxy_logp (logprobs.token_stats, proxy_min_p)")
    adv = token_advantages(inp)
    ratio = torch.exp(inp.logp - inp.old_logp)
    per_token, clipped = ppo_clip_terms(ratio, adv, cfg.clip_eps_low, cfg.clip_eps_high)
    chosen = lp_reg_selection(adv, inp.logp, inp.proxy_logp, inp.mask, cfg.lp_reg_rho)
    safe_proxy = torch.where(chosen, inp.proxy_logp.detach(), inp.logp.detach())  # d = 0 off
    kl = kl_estimate(inp.logp, safe_proxy, "k3", 0.0).clamp(max=LP_REG_KL_CAP)
    per_token = torch.where(chosen, -adv * ratio + cfg.lp_reg_coef * kl, per_token)
    metrics = {
        "clip_frac": masked_sum(clipped, inp.mask),
        "ratio": masked_sum(ratio, inp.mask),
        "lp_reg_selected": masked_sum(chosen, inp.mask),
        "lp_reg_kl": masked_sum(kl * chosen, inp.mask),
    }
    return finish(per_token, inp, cfg, metrics)
