"""Samples -> padded training tensors.

Layout of one row: [pad ... pad | prompt | response | pad ... pad]. Prompts are
left-padded to a common width P and responses right-padded to T, so the logits that
predict response token j sit at column P - 1 + j for every row: one slice, no gather.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from focusrl.models.lean import shared_prefix_logits, training_layers
from focusrl.models.precision import autocast
from focusrl.types import Sample


@dataclass
class TrainBatch:
    input_ids: torch.Tensor  # (B, P + T)
    attention_mask: torch.Tensor  # (B, P + T)
    position_ids: torch.Tensor  # (B, P + T)
    prompt_width: int  # P
    tokens: torch.Tensor  # (B, T) response ids (pad after the end)
    mask: torch.Tensor  # (B, T) float, 1 on response tokens that enter the loss (loss_mask)
    sampler_logp: torch.Tensor  # (B, T) log-probs reported by the engine
    advantages: torch.Tensor  # (B,), or (B, T) when a sample has token_advantages
    support: torch.Tensor | None  # (B, T, K) RLPT promising sets, -1 padded

    def __len__(self) -> int:
        return self.input_ids.size(0)

    def slice(self, start: int, end: int) -> TrainBatch:
        sup = self.support[start:end] if self.support is not None else None
        return TrainBatch(
            self.input_ids[start:end], self.attention_mask[start:end],
            self.position_ids[start:end], self.prompt_width, self.tokens[start:end],
            self.mask[start:end], self.sampler_logp[start:end], self.advantages[start:end], sup,
        )

    @property
    def num_tokens(self) -> float:
        return float(self.mask.sum())


def build_batch(samples: Sequence[Sample], pad_id: int, device: torch.device) -> TrainBatch:
    """Pad samples into a TrainBatch. The loss mask is each sample's `loss_mask` (all
    ones when None); filtered samples get an all-zero loss mask."""
    bsz = len(samples)
    width = max(len(s.prompt_ids) for s in samples)
    resp_len = max(max(len(s.response_ids) for s in samples), 1)
    total = width + resp_len
    ids = torch.full((bsz, total), pad_id, dtype=torch.long)
    attn = torch.zeros((bsz, total), dtype=torch.long)
    tokens = torch.full((bsz, resp_len), pad_id, dtype=torch.long)
    mask = torch.zeros((bsz, resp_len))
    logp = torch.zeros((bsz, resp_len))
    has_support = any(s.support is not None for s in samples)
    support = None
    if has_support:
        k = max(s.support.shape[-1] for s in samples if s.support is not None)
        support = torch.full((bsz, resp_len, k), -1, dtype=torch.long)
        # padded positions get the pad token as their only support entry, so their
        # restricted log-prob is finite (0) and masked out, never -inf
        support[:, :, 0] = pad_id
    for i, s in enumerate(samples):
        p, n = len(s.prompt_ids), len(s.response_ids)
        ids[i, width - p : width] = torch.tensor(s.prompt_ids)
        ids[i, width : width + n] = torch.tensor(s.response_ids, dtype=torch.long)
        attn[i, width - p : width + n] = 1
        tokens[i, :n] = torch.tensor(s.response_ids, dtype=torch.long)
        logp[i, :n] = torch.tensor(s.logprobs)
        if not s.filtered:
            mask[i, :n] = 1.0 if s.loss_mask is None else torch.tensor(
                _checked_loss_mask(s), dtype=torch.float32)
        if support is not None and s.support is not None:
            support[i, :n, : s.support.shape[-1]] = s.support.long()
    position_ids = (attn.cumsum(-1) - 1).clamp(min=0)
    adv = _advantages(samples, resp_len)
    return TrainBatch(
        ids.to(device), attn.to(device), position_ids.to(device), width, tokens.to(device),
        mask.to(device), logp.to(device), adv.to(device),
        support.to(device) if support is not None else None,
    )


def _advantages(samples: Sequence[Sample], resp_len: int) -> torch.Tensor:
    """(B,) sequence advantages, or (B, T) when any sample carries per-token ones (the
    others repeat their sequence advantage over their tokens)."""
    if all(s.token_advantages is None for s in samples):
        return torch.tensor([s.advantage for s in samples], dtype=torch.float32)
    adv = torch.zeros((len(samples), resp_len))
    for i, s in enumerate(samples):
        if s.token_advantages is None:
            adv[i] = s.advantage
            continue
        if len(s.token_advantages) != len(s.response_ids):
            raise ValueError(f"sample of prompt {s.prompt_id!r}: token_advantages has "
                             f"{len(s.token_advantages)} entries for {len(s.response_ids)} "
                             "response tokens; it needs one per response token.")
        adv[i, : len(s.token_advantages)] = torch.tensor(s.token_advantages)
    return adv


def _checked_loss_mask(s: Sample) -> list[int]:
    if len(s.loss_mask) != len(s.response_ids):
        raise ValueError(f"sample of prompt {s.prompt_id!r}: loss_mask has {len(s.loss_mask)} "
                         f"entries for {len(s.response_ids)} response tokens; it needs one "
                         "per response token.")
    return s.loss_mask


def response_logits(model, batch: TrainBatch, temperature: float = 1.0,
                    shared_prefix: bool = False,
                    compute_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Forward the batch; return the float32 logits that predict each response token
    (B, T, V).

    With `shared_prefix`, Llama-family models run `models.lean.shared_prefix_logits`: each
    distinct prompt is forwarded once for its whole group. Other models (and False) run
    the transformers forward over every row. `compute_dtype` runs the forward under
    autocast to that dtype (mixed precision, models/precision.py)."""
    layers = training_layers(model) if shared_prefix else None
    with autocast(batch.input_ids.device, compute_dtype):
        if layers is not None:
            logits = shared_prefix_logits(model, layers, batch.input_ids,
                                          batch.attention_mask, batch.prompt_width)
        else:
            out = model(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids,
                use_cache=False,
                logits_to_keep=batch.tokens.size(1) + 1,
            )
            logits = out.logits[:, :-1, :]  # (B, T, V): columns P-1 .. P+T-2
    logits = logits.float()
    return logits / temperature if temperature != 1.0 else logits
