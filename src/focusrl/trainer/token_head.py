"""Per-token log-probs, entropies and RLPT supports from hidden states, in chunks, without
ever holding the (rows, tokens, vocabulary) logits.

At a real vocabulary the update's time and memory go to the logits, not the matmuls: a
float32 (B, T, V) tensor and the elementwise passes over it (softmax, entropy, masks) cost
more than the model's forward (docs/benchmarks.md, lean log-probs). Here the LM head is
applied to `chunk_tokens` positions at a time and each chunk is reduced at once to the
(N,) numbers the loss needs; under autograd each chunk is recomputed in the backward
(activation checkpointing of the head), so the peak is one chunk's logits, not the
batch's. Under RLPT the log-prob, entropy and Lp-Reg proxy are functions of the K
support logits only, so only the K support rows of the head are gathered and multiplied:
no vocabulary-sized work at all. Values and gradients equal the full-logits path
(`algorithms/logprobs.token_stats`, tested to float rounding).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from focusrl.algorithms.logprobs import TokenStats, token_stats
from focusrl.rollout.promising import covering_support

ChunkFn = Callable[..., tuple[torch.Tensor, ...]]


def _full_chunk(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                tokens: torch.Tensor, temperature: float, proxy_min_p: float | None
                ) -> tuple[torch.Tensor, ...]:
    logits = F.linear(h, weight, bias).float()  # (C, V)
    if temperature != 1.0:
        logits = logits / temperature
    st = token_stats(logits[None], tokens[None], None, with_entropy=True,
                     proxy_min_p=proxy_min_p)
    out = (st.logp[0], st.entropy[0])
    return out + ((st.proxy_logp[0],) if proxy_min_p is not None else ())


def _support_chunk(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                   tokens: torch.Tensor, support: torch.Tensor, temperature: float,
                   proxy_min_p: float | None) -> tuple[torch.Tensor, ...]:
    rows = weight[support.clamp(min=0)]  # (C, K, H): only the support's head rows
    logits = torch.einsum("ch,ckh->ck", h.to(rows.dtype), rows)
    if bias is not None:
        logits = logits + bias[support.clamp(min=0)]
    # scatter the K logits into a tiny (C, K) "vocabulary" whose ids are slots 0..K-1
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    slots = torch.arange(support.shape[-1], device=support.device).expand_as(support)
    slot_support = torch.where(support >= 0, slots, torch.full_like(slots, -1))
    match = support == tokens.unsqueeze(-1)
    slot_token = torch.where(match.any(-1), match.int().argmax(-1), torch.full_like(tokens, -1))
    st = token_stats(logits[None], slot_token.clamp(min=0)[None], slot_support[None],
                     with_entropy=True, proxy_min_p=proxy_min_p)
    # a token missing from a non-empty support: -inf, as token_stats does (made loud)
    empty = ~(support >= 0).any(-1)
    missing = (slot_token < 0) & ~empty
    logp = st.logp[0].masked_fill(missing, float("-inf"))
    out = (logp, st.entropy[0])
    return out + ((st.proxy_logp[0],) if proxy_min_p is not None else ())


def head_token_stats(
    hidden: torch.Tensor,
    head: torch.nn.Linear,
    tokens: torch.Tensor,
    support: torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
    with_entropy: bool = False,
    proxy_min_p: float | None = None,
    chunk_tokens: int = 1024,
    mask: torch.Tensor | None = None,
) -> TokenStats:
    """`token_stats(head(hidden) / temperature, tokens, support, ...)` in chunks.

    hidden (B, T, H), tokens (B, T), support (B, T, K) or None. With `mask` (B, T), only
    the positions where it is > 0 go through the head (packing: no head work on padding
    or on tokens out of the loss); the others get 0. The entropy always comes back (the
    logged one when `with_entropy` is False: detached). Gradients reach `hidden` and the
    head's weight exactly as through the full logits."""
    b, t = tokens.shape
    flat_h = hidden.reshape(b * t, -1)
    flat_tok = tokens.reshape(-1)
    flat_sup = support.reshape(b * t, -1) if support is not None else None
    keep = None
    if mask is not None and bool((mask > 0).any()):  # (all masked: keep the graph whole)
        keep = (mask.reshape(-1) > 0).nonzero().squeeze(-1)  # (N,) positions in the loss
        flat_h, flat_tok = flat_h[keep], flat_tok[keep]
        flat_sup = flat_sup[keep] if flat_sup is not None else None
    grad = torch.is_grad_enabled() and (hidden.requires_grad or head.weight.requires_grad)
    parts: list[tuple[torch.Tensor, ...]] = []
    for start in range(0, flat_tok.numel(), max(chunk_tokens, 1)):
        sl = slice(start, start + chunk_tokens)
        if flat_sup is not None:
            args: tuple[Any, ...] = (flat_h[sl], head.weight, head.bias, flat_tok[sl],
                                     flat_sup[sl], temperature, proxy_min_p)
            fn: ChunkFn = _support_chunk
        else:
            args = (flat_h[sl], head.weight, head.bias, flat_tok[sl], temperature, proxy_min_p)
            fn = _full_chunk
        parts.append(checkpoint(fn, *args, use_reentrant=False) if grad else fn(*args))
    cols = [torch.cat(col) for col in zip(*parts)]
    if keep is not None:  # scatter back; positions out of the loss are 0
        cols = [torch.zeros(b * t, dtype=c.dtype, device=c.device).index_copy(0, keep, c)
                for c in cols]
    cols = [c.reshape(b, t) for c in cols]
    entropy = cols[1] if with_entropy else cols[1].detach()
    return TokenStats(cols[0], entropy, cols[2].detach() if proxy_min_p is not None else None)


@torch.no_grad()
def head_covering_support(hidden: torch.Tensor, head: torch.nn.Linear, tokens: torch.Tensor,
                          k: int, top_p: float = 1.0, max_k: int = 0, temperature: float = 1.0,
                          chunk_tokens: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """`rollout.promising.covering_support` of head(hidden) / temperature, in chunks."""
    b, t = tokens.shape
    flat_h = hidden.reshape(b * t, -1)
    flat_tok = tokens.reshape(-1)
    sups, missed = [], []
    for start in range(0, b * t, max(chunk_tokens, 1)):
        sl = slice(start, start + chunk_tokens)
        logits = head(flat_h[sl]).float() / temperature
        s, m = covering_support(logits, flat_tok[sl], k, top_p, max_k)
        sups.append(s)
        missed.append(m)
    return torch.cat(sups).reshape(b, t, -1), torch.cat(missed).reshape(b, t)



class Forward:
    """One micro-batch's forward, reduced per token on demand: hidden states and the LM
    head (chunked, the default) or, for models without a plain head or with
    `chunk_tokens` 0, the full float32 logits."""

    def __init__(self, model: Any, batch: Any, temperature: float, shared_prefix: bool,
                 compute_dtype: torch.dtype | None, chunk_tokens: int):
        from focusrl.trainer.batching import lm_head, response_hidden, response_logits

        self.temperature, self.chunk_tokens = temperature, chunk_tokens
        self.mask = batch.mask
        self.head = lm_head(model) if chunk_tokens > 0 else None
        self.hidden = self.logits = None
        if self.head is not None:
            self.hidden = response_hidden(model, batch, shared_prefix, compute_dtype)
        if self.hidden is None:
            self.logits = response_logits(model, batch, temperature, shared_prefix,
                                          compute_dtype)

    def token_stats(self, tokens: torch.Tensor, support: torch.Tensor | None, *,
                    with_entropy: bool = False, proxy_min_p: float | None = None) -> TokenStats:
        """Log-prob, entropy (detached unless `with_entropy`) and Lp-Reg proxy per token."""
        if self.logits is None:
            return head_token_stats(self.hidden, self.head, tokens, support,
                                    temperature=self.temperature, with_entropy=with_entropy,
                                    proxy_min_p=proxy_min_p, chunk_tokens=self.chunk_tokens,
                                    mask=self.mask)
        st = token_stats(self.logits, tokens, support, with_entropy=with_entropy,
                         proxy_min_p=proxy_min_p)
        if st.entropy is None:
            with torch.no_grad():
                st.entropy = token_stats(self.logits, tokens, support,
                                         with_entropy=True).entropy
        return st

    def covering_support(self, tokens: torch.Tensor, k: int, top_p: float, max_k: int
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.logits is None:
            return head_covering_support(self.hidden, self.head, tokens, k, top_p, max_k,
                                         self.temperature, self.chunk_tokens)
        with torch.no_grad():
            return covering_support(self.logits, tokens, k, top_p, max_k)
