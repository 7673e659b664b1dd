"""The generation-engine boundary: generate samples; take new weights; own a random state.

Narrow on purpose, so the HF engine, a vLLM engine and a remote engine are
interchangeable. Nothing outside `rollout/` reads an engine's internals: the trainer asks
for samples, hands over new weights after each update (`sync_weights`), and checkpoints
the engine's `state_dict`. Engines never compute rewards, advantages or full-vocabulary
statistics (entropy for EDCO, answer log-likelihoods): the trainer-side model serves
those (`models/scoring.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from focusrl.types import GenerationRequest, Sample, SamplingParams


@runtime_checkable
class RolloutEngine(Protocol):
    policy_version: int
    """The version of the weights the engine samples with now (0 = the initial policy)."""

    def generate(
        self, requests: Sequence[GenerationRequest], params: SamplingParams
    ) -> list[Sample]:
        """`request.num_samples` samples per request, in request order. Each carries the
        request's prompt id and group id, our tokenizer's prompt and response ids (token in,
        token out: never re-tokenised text), the log-prob of each sampled token under the
        distribution actually sampled from, its own copy of the prompt's `meta`,
        `policy_version` and a loss mask."""
        ...

    def sync_weights(self, model: torch.nn.Module, version: int) -> dict[str, float]:
        """Sample from `model`'s current weights from now on, as policy `version`.
        Returns metrics (`sync_seconds`). A no-op for an engine sharing the model."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """The engine's random state and policy version (checkpointed: exact resume)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def close(self) -> None:
        """Release the engine's resources (processes, memory)."""
        ...
