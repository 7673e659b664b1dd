"""Samples -> padded training tensors.

Layout of one row: [pad ... pad | prompt | response | pad ... pad]. Prompts are
left-padded to a common width P and responses right-padded to T, so the logits that
predict response token j sit at column P - 1 + j for every row: one slice, no gather.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from focusrl.models.lean import SUPPORTED_TYPES, shared_prefix_hidden, training_layers
from focusrl.models.lora import unwrap
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


PLAIN_HEAD_TYPES = (*SUPPORTED_TYPES, "gpt2")
"""Model types whose logits are exactly lm_head(base model's last hidden state): no logit
scaling or soft-capping. Others always take the transformers forward's logits."""


def lm_head(model: Any) -> torch.nn.Linear | None:
    """The model's LM head when its logits are a plain linear map of the hidden states.
    None for an FSDP-sharded model (distributed/fsdp.py): its weights are gathered only
    inside the root module's forward, so it must run whole."""
    model = unwrap(model)
    if getattr(model, "_focusrl_fsdp", False):
        return None
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    cfg = getattr(model, "config", None)
    if (not isinstance(head, torch.nn.Linear) or getattr(cfg, "model_type", None)
            not in PLAIN_HEAD_TYPES or getattr(cfg, "final_logit_softcapping", None)):
        return None
    return head


def response_hidden(model: Any, batch: TrainBatch, shared_prefix: bool = False,
                    compute_dtype: torch.dtype | None = None) -> torch.Tensor | None:
    """The final hidden states that predict each response token, (B, T, H), or None when
    the model's head is not a plain linear map (`lm_head`). With `shared_prefix`,
    Llama-family models run `models.lean.shared_prefix_hidden` (each distinct prompt is
    forwarded once for its whole group); otherwise the base transformers model runs
    over every row. `compute_dtype`: autocast (mixed precision, models/precision.py)."""
    if lm_head(model) is None:
        return None
    model = unwrap(model)
    layers = training_layers(model) if shared_prefix else None
    with autocast(batch.input_ids.device, compute_dtype):
        if layers is not None:
            return shared_prefix_hidden(model, layers, batch.input_ids,
                                        batch.attention_mask, batch.prompt_width)
        base = getattr(model, model.base_model_prefix)
        out = base(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                   position_ids=batch.position_ids, use_cache=False)
        p, t = batch.prompt_width, batch.tokens.size(1)
        return out.last_hidden_state[:, p - 1 : p + t - 1]  # columns P-1 .. P+T-2


def response_logits(model: Any, batch: TrainBatch, temperature: float = 1.0,
                    shared_prefix: bool = False,
                    compute_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Forward the batch; return the float32 logits that predict each response token
    (B, T, V): the LM head over `response_hidden`, or the transformers forward's logits
    for models without a plain head. The update does not call this (it reduces the
    hidden states in chunks, trainer/token_head.py); SFT, scoring and tests do."""
    hidden = response_hidden(model, batch, shared_prefix, compute_dtype)
    with autocast(batch.input_ids.device, compute_dtype):
        if hidden is not None:
            logits = lm_head(model)(hidden)
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
