"""Per-token log-probs and entropies, over the full vocabulary or a promising-token support.

Shapes: logits (B, T, V), tokens (B, T), support (B, T, K) with -1 padding.
"""

from __future__ import annotations

import torch


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[tokens] -> (B, T), without keeping a second (B, T, V) copy.

    Uses logsumexp + gather, so only the (B, T, V) logits and a (B, T) result live at once.
    """
    picked = logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # (B, T)
    return picked - torch.logsumexp(logits, dim=-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of softmax(logits) per position -> (B, T)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def restricted_logits(logits: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """Gather the K support logits per position (B, T, K); padding (-1) gets -inf."""
    valid = support >= 0
    gathered = logits.gather(-1, support.clamp(min=0))
    return gathered.masked_fill(~valid, float("-inf"))


def restricted_token_logprobs(
    logits: torch.Tensor, support: torch.Tensor, tokens: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """RLPT: log-probs of `tokens` under softmax renormalised over `support` only.

    Returns (logp (B, T), entropy (B, T)), both on the restricted distribution. A
    log-sum-exp over K gathered logits: no second vocabulary-sized tensor per token.
    A token outside its support gets -inf (it could not have been sampled).
    """
    sub = restricted_logits(logits, support)  # (B, T, K)
    lse = torch.logsumexp(sub, dim=-1, keepdim=True)
    sub_logp = sub - lse  # (B, T, K)
    match = support == tokens.unsqueeze(-1)  # (B, T, K)
    logp = sub_logp.masked_fill(~match, float("-inf")).logsumexp(-1)
    p = sub_logp.exp()
    entropy = -(p * sub_logp.masked_fill(p == 0, 0.0)).sum(-1)
    return logp, entropy
