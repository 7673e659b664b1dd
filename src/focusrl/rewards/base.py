"""The rewarder boundary and the pipeline that combines reward parts.

A rewarder scores a batch: `score(samples) -> list[float]`, one value per sample.
The pipeline runs every configured part, isolates failures per sample (a part that
raises gives that sample the fallback reward, is counted and logged with the sample
id, and the run goes on), writes each part into `Sample.reward_parts`, and combines the
parts into `Sample.reward` by a weighted sum or G-RA gating.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from focusrl.rewards.config import RewardConfig, RewardPartConfig
from focusrl.types import Sample

log = logging.getLogger(__name__)


@runtime_checkable
class Rewarder(Protocol):
    """Anything that scores a batch of samples, one float each."""

    def score(self, samples: Sequence[Sample]) -> list[float]: ...


@dataclass
class RewardFailure:
    part: str
    prompt_id: str
    group_id: int
    error: str


@dataclass
class RewardStats:
    """Failures of the last `score` call (the trainer logs and counts them)."""

    failures: list[RewardFailure] = field(default_factory=list)


def _score_isolated(
    rewarder: Rewarder, samples: Sequence[Sample], part: str, fallback: float
) -> tuple[list[float], list[RewardFailure]]:
    """Score a batch; if the batch call raises, retry one by one to find the culprit."""
    try:
        values = list(rewarder.score(samples))
        if len(values) != len(samples):
            raise ValueError(f"returned {len(values)} rewards for {len(samples)} samples")
        out, failures = [], []
        for s, v in zip(samples, values):
            v = float(v)
            if math.isnan(v) or math.isinf(v):
                failures.append(RewardFailure(part, s.prompt_id, s.group_id, f"non-finite {v}"))
                v = fallback
            out.append(v)
        return out, failures
    except Exception:  # noqa: BLE001 - a reward bug must not stop the run
        pass
    out, failures = [], []
    for s in samples:
        try:
            (v,) = rewarder.score([s])
            v = float(v)
            if math.isnan(v) or math.isinf(v):
                raise ValueError(f"non-finite reward {v}")
        except Exception as e:  # noqa: BLE001
            failures.append(RewardFailure(part, s.prompt_id, s.group_id, f"{type(e).__name__}: {e}"))
            v = fallback
        out.append(v)
    return out, failures


def combine_gated(parts: list[RewardPartConfig], values: dict[str, float]) -> float:
    """G-RA gated accumulation (arXiv 2508.10548).

    Parts are visited by priority (lower number first). A part counts (weighted) only
    while every higher-priority part met its threshold; once one fails, all
    lower-priority parts are dropped.
    """
    total = 0.0
    gate_open = True
    for prio in sorted({p.priority for p in parts}):
        level = [p for p in parts if p.priority == prio]
        if not gate_open:
            break
        for p in level:
            total += p.weight * values[p.label]
        gate_open = all(values[p.label] >= p.threshold for p in level)
    return total


class RewardPipeline:
    """Runs the configured reward parts and combines them into `Sample.reward`."""

    def __init__(self, cfg: RewardConfig, rewarders: dict[str, Rewarder]):
        self.cfg = cfg
        self.rewarders = rewarders
        self.last = RewardStats()

    def score(self, samples: Sequence[Sample]) -> RewardStats:
        """Fill reward_parts and reward on every sample; return this call's failures."""
        stats = RewardStats()
        per_part: dict[str, list[float]] = {}
        for part in self.cfg.parts:
            values, failures = _score_isolated(
                self.rewarders[part.label], samples, part.label, self.cfg.fallback_reward
            )
            per_part[part.label] = values
            stats.failures.extend(failures)
        for f in stats.failures:
            log.warning("reward part %s failed on prompt %s (group %d): %s",
                        f.part, f.prompt_id, f.group_id, f.error)
        for i, s in enumerate(samples):
            s.reward_parts = {name: vals[i] for name, vals in per_part.items()}
            if self.cfg.combine == "gated":
                s.reward = combine_gated(self.cfg.parts, s.reward_parts)
            else:
                s.reward = sum(p.weight * s.reward_parts[p.label] for p in self.cfg.parts)
        self.last = stats
        return stats
