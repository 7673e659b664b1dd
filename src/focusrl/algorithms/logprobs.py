"""Per-token log-probs and entropies, over the full vocabulary or a promising-token support.

Shapes: logits (B, T, V), tokens (B, T), support (B, T, K) with -1 padding.
The caller divides logits by the sampling temperature first, so the loss sees the
distribution that was sampled from. Everything here is gradient-safe with -inf logits
and with fully padded positions: no NaN reaches a gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NEG_INF = float("-inf")


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[tokens] -> (B, T), without keeping a second (B, T, V) copy.

    Uses logsumexp + gather, so only the (B, T, V) logits and a (B, T) result live at once.
    """
    picked = logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # (B, T)
    return picked - torch.logsumexp(logits, dim=-1)


def _entropy(logp: torch.Tensor) -> torch.Tensor:
    """-sum p log p over the last dim; entries with logp = -inf contribute 0 (and no NaN
    gradient: the -inf is replaced *before* the product)."""
    finite_logp = torch.where(torch.isfinite(logp), logp, torch.zeros_like(logp))
    return -(logp.exp() * finite_logp).sum(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of softmax(logits) per position -> (B, T); -inf logits are allowed."""
    return _entropy(torch.log_softmax(logits.float(), dim=-1))


def restricted_logits(logits: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """Gather the K support logits per position (B, T, K) in float32; padding (-1) gets -inf."""
    valid = support >= 0
    gathered = logits.gather(-1, support.clamp(min=0)).float()
    return gathered.masked_fill(~valid, NEG_INF)


def _support_logp(logits: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """log softmax over the support -> (B, T, K); -inf on padding. A position whose
    support is all padding (a padded response position) gets a uniform dummy row, so its
    log-sum-exp stays finite; callers zero such positions."""
    sub = restricted_logits(logits, support)  # (B, T, K)
    empty = ~(support >= 0).any(-1, keepdim=True)  # (B, T, 1)
    sub = torch.where(empty, torch.zeros_like(sub), sub)
    return sub - torch.logsumexp(sub, dim=-1, keepdim=True)


def _pick(sub_logp: torch.Tensor, support: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """The entry of `sub_logp` (B, T, K) at the token's slot in the support -> (B, T).

    Positions with an empty support give 0; a token missing from a non-empty support
    gives -inf (it could not have been sampled: a bug upstream, made loud)."""
    match = support == tokens.unsqueeze(-1)  # (B, T, K)
    slot = match.int().argmax(-1, keepdim=True)  # (B, T, 1)
    picked = sub_logp.gather(-1, slot).squeeze(-1)
    empty = ~(support >= 0).any(-1)
    picked = torch.where(match.any(-1), picked, torch.full_like(picked, NEG_INF))
    return torch.where(empty, torch.zeros_like(picked), picked)


def restricted_token_logprobs(
    logits: torch.Tensor, support: torch.Tensor, tokens: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """RLPT: log-probs of `tokens` under softmax renormalised over `support` only.

    Returns (logp (B, T), entropy (B, T)), both on the restricted distribution. A
    log-sum-exp over K gathered logits: no second vocabulary-sized tensor per token.
    Fully padded positions (support all -1) give logp 0 and entropy 0, with zero gradient.
    """
    sub_logp = _support_logp(logits, support)  # (B, T, K)
    empty = ~(support >= 0).any(-1)
    entropy = _entropy(sub_logp).masked_fill(empty, 0.0)
    return _pick(sub_logp, support, tokens), entropy


def _minp_proxy_logp(cand_logp: torch.Tensor, min_p: float) -> torch.Tensor:
    """Lp-Reg's proxy (arXiv 2510.03222): drop candidates with p < min_p * max p, renormalise.

    cand_logp (..., C) log-probs (any normalisation) -> (..., C) proxy log-probs, -inf on
    dropped candidates. Detached: the proxy is a fixed target.
    """
    cand_logp = cand_logp.detach()
    keep = cand_logp >= cand_logp.max(-1, keepdim=True).values + torch.log(
        torch.tensor(min_p, dtype=cand_logp.dtype))
    kept = cand_logp.masked_fill(~keep, NEG_INF)
    return kept - torch.logsumexp(kept, dim=-1, keepdim=True)


@dataclass
class TokenStats:
    """What the loss needs per token from one forward pass (see losses.LossInput)."""

    logp: torch.Tensor
    """(B, T) log-probs of the taken tokens (restricted to the support under RLPT)."""
    entropy: torch.Tensor | None = None
    """(B, T) entropy of the same distribution, when asked for."""
    proxy_logp: torch.Tensor | None = None
    """(B, T) Lp-Reg proxy log-prob of the taken token (no grad), when asked for."""


def token_stats(
    logits: torch.Tensor,
    tokens: torch.Tensor,
    support: torch.Tensor | None = None,
    *,
    with_entropy: bool = False,
    proxy_min_p: float | None = None,
) -> TokenStats:
    """Per-token log-prob (and optionally entropy and Lp-Reg proxy log-prob) of `tokens`.

    With `support` (RLPT) every quantity is computed on the distribution restricted to the
    support and renormalised; without it, on the full vocabulary. logits (B, T, V) already
    divided by the temperature; tokens (B, T); support (B, T, K) or None.
    """
    if support is None:
        logp = token_logprobs(logits.float(), tokens)
        full_logp = None
        if with_entropy or proxy_min_p is not None:
            full_logp = torch.log_softmax(logits.float(), dim=-1)  # (B, T, V)
        entropy = _entropy(full_logp) if with_entropy else None
        proxy = None
        if proxy_min_p is not None:
            proxy = _minp_proxy_logp(full_logp, proxy_min_p).gather(
                -1, tokens.unsqueeze(-1)).squeeze(-1)
        return TokenStats(logp, entropy, proxy)
    sub_logp = _support_logp(logits, support)  # (B, T, K)
    empty = ~(support >= 0).any(-1)
    entropy = _entropy(sub_logp).masked_fill(empty, 0.0) if with_entropy else None
    proxy = None
    if proxy_min_p is not None:
        proxy = _pick(_minp_proxy_logp(sub_logp, proxy_min_p), support, tokens)
    return TokenStats(_pick(sub_logp, support, tokens), entropy, proxy)
