"""Reward scoring in Ray actors (resources.reward_workers > 0).

`RayRewardPool` stands where the `RewardPipeline` stands (`score(samples)` fills each
sample's `reward_parts` and `reward` and returns the call's `RewardStats`), so the
trainer does not know where rewards are computed. Each actor builds the ordinary
pipeline from `rewards` (parts, per-part timeouts, value checks, fallbacks all apply
inside it); a batch is split into one chunk of whole groups per actor.

Hangs: a part's own timeout (rewards.part_timeout_s) abandons a hung *thread* inside the
actor, which Python cannot stop. The actor boundary adds what threads cannot: a worker
that returns nothing within resources.reward_worker_timeout_s (a part without a time
limit, a rewarder stuck in C code holding the GIL, a wedged process) is killed and
replaced, and its chunk's samples get rewards.fallback_reward in every part, counted per
part as `reward_failures/<part>` (kind `timeout`) and logged with the worker's number.
A worker that dies while scoring is handled the same way (kind `error`): rewards are
cheap to lose, so its chunk is not re-scored. Each replacement is counted in `restarts`.

Parts that score with the trainer's policy (self-evaluation judges) cannot run there:
that is a ConfigError.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

from focusrl.configtools import ConfigError
from focusrl.distributed.ray_setup import check_resources, init_ray, release_actors
from focusrl.rewards.base import RewardFailure, RewardStats, combine_gated, combine_weighted
from focusrl.types import Sample

log = logging.getLogger(__name__)

_TRAINER_OBJECTS = ("policy", "tokenizer", "device")


class RewardWorker:
    """One actor: the run's reward pipeline, built from `rewards` in this process."""

    def __init__(self, rewards_cfg: Any, kinds: dict[str, Any]) -> None:
        from focusrl.rewards.registry import REWARDERS, build_rewards

        REWARDERS.update(kinds)  # kinds registered in the trainer travel with the pool
        self.pipeline = build_rewards(rewards_cfg)

    def pid(self) -> int:
        return os.getpid()

    def score(self, samples: list[Sample]
              ) -> tuple[list[dict[str, float]], list[float], list[RewardFailure]]:
        stats = self.pipeline.score(samples)
        return [s.reward_parts for s in samples], [s.reward for s in samples], stats.failures


class RayRewardPool:
    """resources.reward_workers Ray actors behind the reward pipeline's `score`."""

    def __init__(self, cfg: Any) -> None:
        from focusrl.rewards.registry import factory_of

        res = cfg.resources
        self.cfg = cfg.rewards
        kinds = {p.kind: factory_of(p.kind) for p in self.cfg.parts}
        for p in self.cfg.parts:
            try:
                wants = set(inspect.signature(kinds[p.kind]).parameters) & set(_TRAINER_OBJECTS)
            except (TypeError, ValueError):
                wants = set()
            if wants:
                raise ConfigError(
                    f"rewards.parts '{p.label}' ({p.kind}) scores with the trainer's "
                    f"{', '.join(sorted(wants))}, which resources.reward_workers cannot "
                    "reach: set resources.reward_workers=0 to score in the trainer process.")
        self.cfg.validate()
        self.ray, self._started_ray = init_ray(res)
        check_resources(self.ray, res)
        self._actor_cls = self.ray.remote(num_cpus=res.reward_worker_cpus)(RewardWorker)
        self._kinds, self._timeout = kinds, res.reward_worker_timeout_s
        self._lock = threading.Lock()
        self.workers = [self._actor_cls.remote(self.cfg, kinds) for _ in range(res.reward_workers)]
        self._started = [w.pid.remote() for w in self.workers]  # constructors still running
        self.restarts = 0
        self.last = RewardStats()
        self.failure_totals: Counter[str] = Counter()

    def worker_pids(self) -> list[int]:
        return self.ray.get([w.pid.remote() for w in self.workers])

    def score(self, samples: Sequence[Sample]) -> RewardStats:
        """Score `samples` in place on the workers; failures counted as the pipeline does."""
        samples = list(samples)
        stats = RewardStats()
        if not samples:
            return stats
        with self._lock:
            if self._started:  # a new worker's start-up is not part of its scoring time
                self.ray.get(self._started, timeout=max(120.0, self._timeout))
                self._started = []
            chunks = _group_chunks(samples, len(self.workers))
            calls = {self.workers[i].score.remote(chunk): (i, at, chunk)
                     for i, at, chunk in chunks}
            done, late = self.ray.wait(list(calls), num_returns=len(calls),
                                       timeout=self._timeout)
            for ref in done:
                i, at, chunk = calls[ref]
                try:
                    parts, rewards, failures = self.ray.get(ref)
                except self.ray.exceptions.RayActorError as e:
                    self._replace(i, f"died while scoring ({type(e).__name__})")
                    stats.failures.extend(self._fallback(chunk, at, "error",
                                                         f"reward worker {i} died"))
                    continue
                for s, p, r in zip(chunk, parts, rewards):
                    s.reward_parts, s.reward = p, r
                for f in failures:
                    f.index += at
                stats.failures.extend(failures)
            for ref in late:
                i, at, chunk = calls[ref]
                self._replace(i, f"gave no result within resources.reward_worker_timeout_s="
                                 f"{self._timeout:g}; killed")
                stats.failures.extend(self._fallback(
                    chunk, at, "timeout",
                    f"reward worker {i}: no result after {self._timeout:g} s"))
        for f in stats.failures:
            self.failure_totals[f.part] += 1
        self.last = stats
        return stats

    def _replace(self, i: int, why: str) -> None:
        self.restarts += 1
        log.warning("reward worker %d %s; its samples get rewards.fallback_reward=%g, and a "
                    "new worker replaces it (restart %d)", i, why, self.cfg.fallback_reward,
                    self.restarts)
        self.ray.kill(self.workers[i])
        self.workers[i] = self._actor_cls.remote(self.cfg, self._kinds)
        self._started.append(self.workers[i].pid.remote())

    def _fallback(self, chunk: list[Sample], offset: int, kind: str,
                  error: str) -> list[RewardFailure]:
        """Every part of every sample of `chunk` gets the fallback; one failure each."""
        combine = combine_gated if self.cfg.combine == "gated" else combine_weighted
        out = []
        for j, s in enumerate(chunk):
            s.reward_parts = {p.label: self.cfg.fallback_reward for p in self.cfg.parts}
            s.reward = combine(self.cfg.parts, s.reward_parts)
            out.extend(RewardFailure(p.label, s.prompt_id, s.group_id, error, kind,  # type: ignore[arg-type]
                                     offset + j) for p in self.cfg.parts)
        return out

    def close(self) -> None:
        workers, self.workers = self.workers, []
        release_actors(self.ray, workers, self._started_ray)


def _group_chunks(samples: list[Sample], n: int) -> list[tuple[int, int, list[Sample]]]:
    """(worker, offset, chunk): up to `n` contiguous chunks of whole groups (group-level
    parts see whole groups)."""
    starts = [i for i, s in enumerate(samples)
              if i == 0 or s.group_id != samples[i - 1].group_id] + [len(samples)]
    groups = len(starts) - 1
    bounds = [starts[round(i * groups / n)] for i in range(n + 1)]
    return [(i, bounds[i], samples[bounds[i]:bounds[i + 1]]) for i in range(n)
            if bounds[i + 1] > bounds[i]]


def build_reward_scorer(cfg: Any, context: dict[str, Any]) -> Any:
    """The run's reward pipeline in this process, or a RayRewardPool (reward_workers)."""
    from focusrl.rewards.registry import build_rewards

    if cfg.resources.reward_workers > 0:
        return RayRewardPool(cfg)
    return build_rewards(cfg.rewards, context)
