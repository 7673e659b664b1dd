"""Reward parts that read an episode's result (set by rollout/episodes.py in sample.meta),
so episodes are scored by the same reward pipeline as single-turn samples."""

from __future__ import annotations

from collections.abc import Sequence

from focusrl.rewards.registry import register
from focusrl.types import Sample


def _meta(s: Sample, key: str) -> float:
    if key not in s.meta:
        raise ValueError(f"sample of prompt {s.prompt_id!r} has no meta[{key!r}]: reward kinds "
                         "env_return and env_correct score episodes; set env.name.")
    return float(s.meta[key])


@register("env_return")
class EnvReturnReward:
    """The episode's return: the sum of its environment step rewards."""

    def score(self, samples: Sequence[Sample]) -> list[float]:
        return [_meta(s, "env_return") for s in samples]


@register("env_correct")
class EnvCorrectReward:
    """1.0 when the environment said the episode solved its task (info['correct'])."""

    def score(self, samples: Sequence[Sample]) -> list[float]:
        return [_meta(s, "env_correct") for s in samples]
