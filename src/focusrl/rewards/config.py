"""Config of the reward: named parts, their weights or gates, and failure handling."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from focusrl.configtools import ConfigError


@dataclass
class RewardPartConfig:
    """One reward part: a registered rewarder kind with its arguments."""

    kind: str = "numeric"
    """Registered rewarder (see focusrl.rewards.registry): numeric, exact_match, format, ..."""
    name: str = ""
    """Name used in logs (reward/<name>); defaults to kind."""
    weight: float = 1.0
    """Weight in the weighted sum."""
    priority: int = 0
    """Gated combination (G-RA): lower number = higher priority."""
    threshold: float = 0.5
    """Gated combination: lower-priority parts count only if this part reaches this value."""
    args: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for the rewarder's constructor."""
    timeout_s: float = 0.0
    """Time limit of this part on one batch (0 = rewards.part_timeout_s); when it runs
    out the whole batch gets the fallback for this part and each sample is counted."""
    range: list[float] = field(default_factory=list)
    """[min, max] of this part's values ([] = rewards.part_range); a value outside is a
    failure of the part for that sample (fallback, counted), never clipped."""

    @property
    def label(self) -> str:
        return self.name or self.kind


@dataclass
class RewardConfig:
    """How samples are scored."""

    parts: list[RewardPartConfig] = field(default_factory=lambda: [RewardPartConfig()])
    """The reward parts; each is logged separately as reward/<name>."""
    combine: Literal["sum", "gated"] = "sum"
    """sum: weighted sum of parts; gated: G-RA gating by priority and threshold."""
    fallback_reward: float = 0.0
    """Reward given to a sample whose rewarder raised or timed out (counted and logged)."""
    part_timeout_s: float = 600.0
    """Default time limit of one part on one batch (0 = none)."""
    part_range: list[float] = field(default_factory=lambda: [-1000.0, 1000.0])
    """[min, max] a part's value must lie in (unless the part sets `range`); a value
    outside, or one that is not a finite real number (NaN, inf, a string, a bool), is a
    failure of that part for that sample: fallback reward, counted in
    reward_failures/<part>."""
    accuracy_part: str = ""
    """Name of the part that decides correctness for the `accuracy` and eval metrics (a
    sample is correct when it reaches that part's threshold); empty = the first part."""
    overlap_with_generation: bool = False
    """Score each generated chunk (rollout.batch_samples samples) in a worker thread while
    the next chunk is generated. A win when generation waits on a GPU or remote engine;
    on a CPU-only machine set threads: 1, or the two compete for the cores
    (docs/rewards.md has the measurements)."""

    def validate(self) -> None:
        if not self.parts:
            raise ConfigError("rewards.parts is empty; give at least one part, e.g. "
                              "[{kind: numeric}].")
        for p in self.parts:
            if p.timeout_s < 0:
                raise ConfigError(f"rewards.parts '{p.label}': timeout_s must be >= 0 "
                                  f"(0 = use rewards.part_timeout_s), got {p.timeout_s}.")
        for where, rng in [("rewards.part_range", self.part_range)] + [
                (f"rewards.parts '{p.label}'.range", p.range) for p in self.parts if p.range]:
            if (len(rng) != 2 or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                         and math.isfinite(x) for x in rng)
                    or rng[0] > rng[1]):
                raise ConfigError(f"{where} must be [min, max] with finite numbers and "
                                  f"min <= max, got {rng!r}; e.g. [-1000, 1000].")
        if self.part_timeout_s < 0:
            raise ConfigError(f"rewards.part_timeout_s must be >= 0 (0 = no limit), got "
                              f"{self.part_timeout_s}.")
        labels = [p.label for p in self.parts]
        if self.accuracy_part and self.accuracy_part not in labels:
            raise ConfigError(f"rewards.accuracy_part '{self.accuracy_part}' is not a part "
                              f"name; parts: {labels}.")
        dup = {x for x in labels if labels.count(x) > 1}
        if dup:
            raise ConfigError(f"rewards.parts has duplicate names {sorted(dup)}; set `name` "
                              "on each part to tell them apart.")
