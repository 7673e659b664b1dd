"""The generation-engine boundary: generate samples; load new weights.

Narrow on purpose, so the HF engine, a vLLM engine and a remote engine are
interchangeable. Engines never compute rewards or advantages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import torch

from focusrl.types import GenerationRequest, Sample, SamplingParams


class RolloutEngine(Protocol):
    def generate(
        self, requests: Sequence[GenerationRequest], params: SamplingParams
    ) -> list[Sample]:
        """`request.num_samples` samples per request, in request order, each tagged with
        the request's prompt id and group id."""
        ...

    def load_weights(self, state: Mapping[str, torch.Tensor]) -> None:
        """Replace the engine's policy weights (a no-op when it shares the trainer's model)."""
        ...
