"""The rewarder boundary and the pipeline that combines reward parts.

A rewarder scores a batch: `score(samples) -> list[float]`, one value per sample.
The pipeline runs the configured parts in order, each under a time limit, isolates
failures per sample (a part that raises, returns a non-finite value or runs out of time
gives that sample the fallback reward, is counted and logged with the sample id, and
the run goes on), writes each part into `Sample.reward_parts` as soon as it is known (so
a later part, e.g. LASER, may read an earlier one), and combines the parts into
`Sample.reward` by a weighted sum or G-RA gating.

A part that hangs cannot be killed from Python (threads cannot be stopped): the
pipeline stops waiting for it and abandons its daemon thread. Rewarders that may hang
for real (code execution) run their work out of process with their own kill switch.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

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
    kind: Literal["error", "timeout", "non_finite"] = "error"
    index: int = -1
    """Position of the sample in the scored batch."""


@dataclass
class RewardStats:
    """Failures of the last `score` call (the trainer logs and counts them)."""

    failures: list[RewardFailure] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """`reward_failures/<part>` -> number of failed samples in this call."""
        return dict(Counter(f"reward_failures/{f.part}" for f in self.failures))


class PartTimeout(Exception):
    """A reward part did not finish within its time limit."""


def call_with_timeout(rewarder: Rewarder, samples: Sequence[Sample], timeout_s: float
                      ) -> list[float]:
    """`rewarder.score(samples)`, raising PartTimeout after `timeout_s` (0 = wait forever).

    The call runs in a daemon thread; on timeout that thread is abandoned.
    """
    if timeout_s <= 0:
        return list(rewarder.score(samples))
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = list(rewarder.score(samples))
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box["error"] = e

    worker = threading.Thread(target=target, daemon=True, name="reward-part")
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise PartTimeout(f"no result after {timeout_s} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def _finite(value: object) -> float:
    v = float(value)  # type: ignore[arg-type]
    if math.isnan(v) or math.isinf(v):
        raise ValueError(f"non-finite reward {v}")
    return v


def score_isolated(
    rewarder: Rewarder, samples: Sequence[Sample], part: str, fallback: float,
    timeout_s: float = 0.0,
) -> tuple[list[float], list[RewardFailure]]:
    """Score a batch with per-sample failure isolation.

    A batch that raises is retried one sample at a time to find the culprit; a batch
    that times out is not retried (each sample would likely time out too): every sample
    gets the fallback and counts as a timeout.
    """
    def failure(i: int, kind: str, err: str) -> RewardFailure:
        s = samples[i]
        return RewardFailure(part, s.prompt_id, s.group_id, err, kind, i)  # type: ignore[arg-type]

    try:
        values = call_with_timeout(rewarder, samples, timeout_s)
    except PartTimeout as e:
        return [fallback] * len(samples), [failure(i, "timeout", str(e))
                                           for i in range(len(samples))]
    except Exception:  # noqa: BLE001 - a reward bug must not stop the run; find the culprit
        values = None
    if values is not None and len(values) == len(samples):
        out, failures = [], []
        for i, v in enumerate(values):
            try:
                out.append(_finite(v))
            except (TypeError, ValueError) as e:
                failures.append(failure(i, "non_finite", str(e)))
                out.append(fallback)
        return out, failures
    out, failures = [], []
    for i, s in enumerate(samples):
        try:
            got = call_with_timeout(rewarder, [s], timeout_s)
            if len(got) != 1:
                raise ValueError(f"returned {len(got)} rewards for 1 sample")
            out.append(_finite(got[0]))
        except PartTimeout as e:
            failures.append(failure(i, "timeout", str(e)))
            out.append(fallback)
        except Exception as e:  # noqa: BLE001
            failures.append(failure(i, "error", f"{type(e).__name__}: {e}"))
            out.append(fallback)
    return out, failures


def combine_weighted(parts: Sequence[RewardPartConfig], values: dict[str, float]) -> float:
    """sum_k weight_k * value_k."""
    return sum(p.weight * values[p.label] for p in parts)


def combine_gated(parts: Sequence[RewardPartConfig], values: dict[str, float]) -> float:
    """G-RA gated accumulation (arXiv 2508.10548).

    Parts are visited by priority (lower number first). A part counts (weighted) only
    while every higher-priority part met its threshold; once one fails, all
    lower-priority parts are dropped. Parts of equal priority count together.
    """
    total = 0.0
    for prio in sorted({p.priority for p in parts}):
        level = [p for p in parts if p.priority == prio]
        total += sum(p.weight * values[p.label] for p in level)
        if not all(values[p.label] >= p.threshold for p in level):
            break
    return total


def _log_failures(failures: Sequence[RewardFailure], shown: int = 20) -> None:
    """One warning per part and kind: the count, the first error, and the sample ids
    (batch index, prompt id, group id); every failure at DEBUG level."""
    by_key: dict[tuple[str, str], list[RewardFailure]] = {}
    for f in failures:
        by_key.setdefault((f.part, f.kind), []).append(f)
        log.debug("reward part %s %s on sample %d (prompt %s, group %d): %s",
                  f.part, f.kind, f.index, f.prompt_id, f.group_id, f.error)
    for (part, kind), fs in by_key.items():
        ids = ", ".join(f"#{f.index} {f.prompt_id}/g{f.group_id}" for f in fs[:shown])
        more = f" and {len(fs) - shown} more" if len(fs) > shown else ""
        log.warning("reward part %s: %d sample(s) got the fallback (%s; first: %s): %s%s",
                    part, len(fs), kind, fs[0].error, ids, more)


class RewardPipeline:
    """Runs the configured reward parts and combines them into `Sample.reward`."""

    def __init__(self, cfg: RewardConfig, rewarders: dict[str, Rewarder]):
        missing = [p.label for p in cfg.parts if p.label not in rewarders]
        if missing:
            raise ValueError(f"RewardPipeline: no rewarder for parts {missing}; build the "
                             "pipeline with focusrl.rewards.registry.build_rewards(cfg).")
        self.cfg = cfg
        self.rewarders = rewarders
        self.last = RewardStats()
        self.failure_totals: Counter[str] = Counter()
        """Failed samples per part over the whole run."""

    def score(self, samples: Sequence[Sample]) -> RewardStats:
        """Fill reward_parts and reward on every sample; return this call's failures."""
        stats = RewardStats()
        for s in samples:
            s.reward_parts = {}
        for part in self.cfg.parts:
            timeout = part.timeout_s or self.cfg.part_timeout_s
            values, failures = score_isolated(self.rewarders[part.label], samples, part.label,
                                              self.cfg.fallback_reward, timeout)
            for s, v in zip(samples, values):
                s.reward_parts[part.label] = v
            stats.failures.extend(failures)
        _log_failures(stats.failures)
        for f in stats.failures:
            self.failure_totals[f.part] += 1
        combine = combine_gated if self.cfg.combine == "gated" else combine_weighted
        for s in samples:
            s.reward = combine(self.cfg.parts, s.reward_parts)
        self.last = stats
        return stats
