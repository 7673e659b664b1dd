"""RLPT's sampling-time restriction (arXiv 2602.03195): sample only inside the promising set.

P_t = the top-k tokens of the (temperature-scaled) logits at position t; with top_p < 1,
the smallest top-ranked set holding top_p of the probability mass, but at least k and
at most max_k tokens. The support is stored compactly as (N, W) token ids, -1 padded
(W = k, or max(k, max_k) with top_p < 1): never a vocabulary-sized mask.

Pure functions of tensors, so the HF engine, the vLLM logits processor
(rollout/vllm_rlpt.py) and the trainer's recompute all apply the same restriction.
"""

from __future__ import annotations

import torch

NEG_INF = float("-inf")


def support_width(k: int, top_p: float = 1.0, max_k: int = 0) -> int:
    """Stored ids per position: k for plain top-K, max(k, max_k) when top_p < 1."""
    return k if top_p >= 1.0 else max(k, max_k)


def promising_support(
    logits: torch.Tensor, k: int, top_p: float = 1.0, max_k: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Restrict next-token logits (N, V) to P_t.

    Returns (restricted (N, V): the logits on P_t and -inf elsewhere, support (N, W) int64
    token ids in descending logit order, -1 padded). Tokens whose logit is already -inf
    never enter P_t. Sampling from softmax(restricted) samples from the policy
    renormalised over P_t, which is exactly what the loss recomputes from the support.
    """
    width = min(support_width(k, top_p, max_k), logits.shape[-1])
    vals, ids = torch.topk(logits, width, dim=-1)  # (N, W), descending
    keep = torch.isfinite(vals)
    if top_p < 1.0:
        probs = torch.exp(vals.float() - torch.logsumexp(logits.float(), -1, keepdim=True))
        mass_before = torch.cumsum(probs, -1) - probs  # mass of higher-ranked tokens
        rank = torch.arange(width, device=logits.device)
        keep = keep & ((mass_before < top_p) | (rank < k))
    restricted = torch.full_like(logits, NEG_INF).scatter(
        -1, ids, torch.where(keep, vals, torch.full_like(vals, NEG_INF)))
    support = torch.where(keep, ids, torch.full_like(ids, -1))
    return restricted, support


def support_stats(
    full_logits: torch.Tensor,
    support: torch.Tensor,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Per-step RLPT diagnostics over N positions: full_logits (N, V), support (N, W).

    - support_size: mean |P_t|.
    - support_mass: mean probability mass of P_t under the unrestricted softmax.
    - escape_prob: the share of positions where an unrestricted sample would have left
      P_t, as its expectation: each position leaves with probability 1 - mass_t, so the
      expected share is mean(1 - mass_t) = 1 - support_mass. Exact and noise-free,
      unlike counting one counterfactual draw per position.
    - escape_sampled (only with a generator): that count, from one unrestricted draw per
      position; its expectation is escape_prob (a check, and what a reader may expect).
    - positions: N, to weight means across calls.
    """
    logp = torch.log_softmax(full_logits.float(), dim=-1)  # (N, V)
    valid = support >= 0
    picked = logp.gather(-1, support.clamp(min=0)).masked_fill(~valid, NEG_INF)
    mass = picked.logsumexp(-1).exp()  # (N,)
    out = {
        "support_size": valid.sum(-1).float().mean().item(),
        "support_mass": mass.mean().item(),
        "escape_prob": (1 - mass).mean().item(),
        "positions": float(support.shape[0]),
    }
    if generator is not None:
        draw = torch.multinomial(logp.exp(), 1, generator=generator)  # (N, 1)
        out["escape_sampled"] = (~(support == draw).any(-1)).float().mean().item()
    return out


def covering_support(
    logits: torch.Tensor, tokens: torch.Tensor, k: int, top_p: float = 1.0, max_k: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """P_t recomputed trainer-side for samples whose engine did not return it (vLLM):
    logits (..., V) at temperature, taken tokens (...) -> (support (..., W), missed (...)).

    The support is `promising_support` of the logits; where the taken token is not in it
    (the engine's logits differ numerically from the trainer's, so a near-tie can rank
    differently), the token replaces the last entry, so every sampled token stays inside
    its own support and its restricted log-prob is finite. `missed` marks those
    positions (logged as rlpt_support_miss)."""
    shape = logits.shape[:-1]
    _, support = promising_support(logits.reshape(-1, logits.shape[-1]), k, top_p, max_k)
    support = support.reshape(*shape, -1)
    missed = ~(support == tokens.unsqueeze(-1)).any(-1)
    support[..., -1] = torch.where(missed, tokens, support[..., -1])
    return support, missed
