"""Config of the prompt sampler (which prompts next, and how many samples each)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class CurriculumConfig:
    """Prompt selection and per-prompt sample budgets."""

    kind: Literal["uniform"] = "uniform"
    """uniform: shuffled passes over the training prompts, samples_per_prompt each."""
