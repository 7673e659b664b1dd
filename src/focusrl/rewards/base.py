"""The rewarder boundary and the pipeline that combines reward parts.

A rewarder scores a batch: `score(samples) -> list[float]`, one value per sample.
The pipeline runs the configured parts in order, each under a time limit, isolates
failures per sample (a part that raises, returns a non-finite value or runs out of time
gives that sample the fallback reward, is counted and logged with the sample id, and
the run goes on), writes each part into `Sample.reward_parts` as soon as it is known (so
a later part, e.g. LASER, may read an earlier one), and combines the parts into
`Sample.reward` by a weighted sum or G-RA gating.

A part's value for a sample must be a real number (int or float, not a bool, a string or
None), finite, and inside the part's range (`RewardPartConfig.range`, else
`rewards.part_range`); anything else is a failure of that part for that sample, never
coerced. A rewarder may also return a `SampleFailure` for a sample it could not score
(the math checker does for an answer that ran out of time).

A part that hangs cannot be killed from Python (threads cannot be stopped): the
pipeline stops waiting for it and abandons its daemon thread, and while that thread is
still running the part is not called again: its later batches fail at once (kind
`busy`), so a hung or spinning part costs at most its timeout once, and never more than
one thread. Rewarders that may hang for real (code execution, math verification) run
their work in child processes that they kill.
"""

from __future__ import annotations

import logging
import math
import numbers
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


@dataclass(frozen=True)
class SampleFailure:
    """Returned by a rewarder in place of a sample's value: it could not score it (the
    pipeline gives that sample the fallback and counts the failure)."""

    kind: Literal["error", "timeout"]
    error: str


FailureKind = Literal["error", "timeout", "non_finite", "bad_value", "out_of_range", "busy"]


@dataclass
class RewardFailure:
    part: str
    prompt_id: str
    group_id: int
    error: str
    kind: FailureKind = "error"
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


_RUNNING: dict[int, threading.Thread] = {}
"""Abandoned (timed-out) reward threads still running, by id of their rewarder."""
_RUNNING_LOCK = threading.Lock()


class PartBusy(Exception):
    """The part's previous, timed-out call is still running."""


def call_with_timeout(rewarder: Rewarder, samples: Sequence[Sample], timeout_s: float
                      ) -> list[object]:
    """`rewarder.score(samples)`, raising PartTimeout after `timeout_s` (0 = wait forever).

    The call runs in a daemon thread; on timeout that thread is abandoned, and until it
    ends every further call for this rewarder raises PartBusy at once (no second thread).
    """
    if timeout_s <= 0:
        return list(rewarder.score(samples))
    with _RUNNING_LOCK:
        previous = _RUNNING.get(id(rewarder))
        if previous is not None and previous.is_alive():
            raise PartBusy("its previous call timed out and is still running; not called "
                           "again until it ends")
        _RUNNING.pop(id(rewarder), None)
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
        with _RUNNING_LOCK:
            _RUNNING[id(rewarder)] = worker
        raise PartTimeout(f"no result after {timeout_s} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


class BadValue(Exception):
    """A part returned something that is not a usable reward."""

    def __init__(self, kind: FailureKind, msg: str):
        super().__init__(msg)
        self.kind = kind


def checked_value(value: object, low: float, high: float) -> float:
    """`value` as a float when it is a real, finite number in [low, high]; else BadValue
    (a bool, a string like "1.0", None, NaN, inf, 1e308 are failures, never coerced)."""
    if isinstance(value, SampleFailure):
        raise BadValue(value.kind, value.error)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BadValue("bad_value", f"returned {type(value).__name__} {value!r:.60}, not a "
                       "real number")
    v = float(value)
    if math.isnan(v) or math.isinf(v):
        raise BadValue("non_finite", f"non-finite reward {v}")
    if not low <= v <= high:
        raise BadValue("out_of_range", f"reward {v:g} outside the part's range [{low:g}, "
                       f"{high:g}] (set rewards.part_range or the part's range)")
    return v


def score_isolated(
    rewarder: Rewarder, samples: Sequence[Sample], part: str, fallback: float,
    timeout_s: float = 0.0, value_range: tuple[float, float] = (-math.inf, math.inf),
) -> tuple[list[float], list[RewardFailure]]:
    """Score a batch with per-sample failure isolation.

    A batch that raises is retried one sample at a time to find the culprit; a batch
    that times out is not retried (each sample would likely time out too): every sample
    gets the fallback and counts as a timeout (or as `busy` while an earlier timed-out
    call of this part is still running). Each value is checked by `checked_value`.
    """
    def failure(i: int, kind: str, err: str) -> RewardFailure:
        s = samples[i]
        return RewardFailure(part, s.prompt_id, s.group_id, err, kind, i)  # type: ignore[arg-type]

    def check_all(values: Sequence[object]) -> tuple[list[float], list[RewardFailure]]:
        out, failures = [], []
        for i, v in enumerate(values):
            try:
                out.append(checked_value(v, *value_range))
            except BadValue as e:
                failures.append(failure(i, e.kind, str(e)))
                out.append(fallback)
        return out, failures

    try:
        values = call_with_timeout(rewarder, samples, timeout_s)
    except (PartTimeout, PartBusy) as e:
        kind = "timeout" if isinstance(e, PartTimeout) else "busy"
        return [fallback] * len(samples), [failure(i, kind, str(e))
                                           for i in range(len(samples))]
    except Exception:  # noqa: BLE001 - a reward bug must not stop the run; find the culprit
        values = None
    if values is not None and len(values) == len(samples):
        return check_all(values)
    out, failures = [], []
    for i, s in enumerate(samples):
        try:
            got = call_with_timeout(rewarder, [s], timeout_s)
            if len(got) != 1:
                raise ValueError(f"returned {len(got)} rewards for 1 sample")
            value, bad = check_all(got)
            out += value
            failures += [failure(i, f.kind, f.error) for f in bad]
        except (PartTimeout, PartBusy) as e:
            kind = "timeout" if isinstance(e, PartTimeout) else "busy"
            failures.append(failure(i, kind, str(e)))
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
            low, high = part.range or self.cfg.part_range
            values, failures = score_isolated(self.rewarders[part.label], samples, part.label,
                                              self.cfg.fallback_reward, timeout, (low, high))
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
