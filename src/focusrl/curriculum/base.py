"""The prompt-sampler boundary: which prompts come next and how many samples each gets.

Samplers are stateful (data position, per-prompt statistics) and checkpointable.
`observe` receives every scored sample so adaptive samplers (EDCO, knapsack budgets,
difficulty ladders) can update their statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from focusrl.types import Prompt, Sample


def take_cycling(order: Sequence[int], position: int, count: int) -> tuple[list[int], int]:
    """The next `count` entries of `order` from `position`, wrapping around at its end;
    returns them and the new position (for samplers that cycle through a fixed order)."""
    taken = []
    for _ in range(count):
        if position >= len(order):
            position = 0
        taken.append(order[position])
        position += 1
    return taken, position


class PromptSampler(Protocol):
    def next_prompts(self, num_prompts: int) -> list[tuple[Prompt, int]]:
        """The next `num_prompts` prompts, each with its number of samples."""
        ...

    def observe(self, samples: Sequence[Sample]) -> None:
        """Feed back scored samples (per-prompt success, entropy, ...)."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class UniformSampler:
    """Shuffled passes over the training prompts; every prompt gets `samples_per_prompt`."""

    def __init__(self, prompts: Sequence[Prompt], samples_per_prompt: int, seed: int):
        if not prompts:
            raise ValueError("UniformSampler needs at least one prompt")
        self.prompts = list(prompts)
        self.samples_per_prompt = samples_per_prompt
        self.seed = seed
        self.epoch = 0
        self.position = 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.prompts))

    def next_prompts(self, num_prompts: int) -> list[tuple[Prompt, int]]:
        out = []
        for _ in range(num_prompts):
            if self.position >= len(self._order):
                self.epoch += 1
                self.position = 0
                self._order = self._permutation(self.epoch)
            out.append((self.prompts[self._order[self.position]], self.samples_per_prompt))
            self.position += 1
        return out

    def observe(self, samples: Sequence[Sample]) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self._order = self._permutation(self.epoch)
