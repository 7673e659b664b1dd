"""What needs the policy's full next-token distribution, served by the trainer's model.

A rollout engine returns sampled tokens and their log-probs, nothing vocabulary-sized
(vLLM cannot return a full distribution cheaply, and a remote engine should not have
to). EDCO's entropy estimates and the perplexity curriculum need more, so they ask the
trainer-side model: one teacher-forced forward over prompt + response, the same forward
the update runs (`trainer/batching.response_logits`). In synchronous training the
trainer's weights are the engine's, so these are the sampling policy's numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from focusrl.algorithms.logprobs import entropy_from_logits
from focusrl.trainer.batching import build_batch, response_logits
from focusrl.types import Sample


class PolicyScorer:
    """The trainer-side policy for full-distribution statistics of given samples."""

    def __init__(self, model: Any, tokenizer: Any, device: torch.device,
                 compute_dtype: torch.dtype | None = None, micro_batch_samples: int = 64):
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.compute_dtype = compute_dtype
        self.micro_batch_samples = micro_batch_samples

    @torch.no_grad()
    def token_entropies(self, samples: Sequence[Sample]) -> list[list[float]]:
        """Entropy (nats) of the policy's full next-token distribution (temperature 1)
        at each response position of each sample."""
        out: list[list[float]] = []
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        was_training = self.model.training
        self.model.eval()
        try:
            for start in range(0, len(samples), self.micro_batch_samples):
                chunk = [s for s in samples[start : start + self.micro_batch_samples]]
                batch = build_batch(chunk, pad, self.device)
                logits = response_logits(self.model, batch, 1.0, True, self.compute_dtype)
                ent = entropy_from_logits(logits).cpu()  # (B, T)
                out.extend(ent[i, : s.num_response_tokens].tolist() for i, s in enumerate(chunk))
        finally:
            if was_training:
                self.model.train()
        return out
