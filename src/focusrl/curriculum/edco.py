"""EDCO: Entropy-based Dynamic Curriculum Orchestration (arXiv 2601.03725).

Three parts, the first two here:
1. Entropy estimators. `PrefixEntropyEstimator` is EDCO's fast one: quick-answer
   prompting (an optional suffix asking for the answer directly), then the mean entropy
   of the model's next-token distribution over only the first `prefix_tokens` generated
   tokens, averaged over `num_samples` samples. `FullAnswerEntropyEstimator` is the
   reference it approximates: mean token entropy over complete sampled answers.
   The rollout engine samples the tokens; their entropies come from `entropy_fn`, the
   trainer-side policy (`trainer/policy_scoring.PolicyScorer.token_entropies`): an
   engine returns no vocabulary-sized statistics (rollout/base.py).
2. The curriculum generator `EDCOSampler`: every `refresh_steps` calls it draws a pool
   of candidate prompts, re-estimates their entropy under the *current* model, and
   trains on the highest-entropy `selection_ratio` of the pool until the next refresh.
   For SFT, `select_high_entropy` returns the selected prompts once.

An estimator is any callable `prompts -> entropies` (one float per prompt), so a test
can pass a table and a trainer can pass one bound to its engine and policy.

Decisions where the paper is silent (PAPERS.md): 8 prefix tokens, 4 samples, mean
(not sum) token entropy, each sample weighted equally (per-sample token mean, then the
mean over samples), refresh every 10 steps, top 25% of a 256-prompt pool. Between
refreshes the selected prompts are served in a seeded shuffled order, cycling.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from focusrl.curriculum.base import UniformSampler, take_cycling
from focusrl.rollout.base import RolloutEngine
from focusrl.types import GenerationRequest, Prompt, Sample, SamplingParams

EntropyEstimator = Callable[[Sequence[Prompt]], list[float]]
"""prompts -> one entropy (nats) per prompt."""
TokenEntropyFn = Callable[[Sequence[Sample]], list[list[float]]]
"""samples -> the policy's entropy at each response position of each sample."""


def mean_entropy_per_prompt(samples: Sequence[Sample], entropies: Sequence[Sequence[float]],
                            num_prompts: int) -> list[float]:
    """Samples carry group_id = prompt index and `entropies[i]` the token entropies of
    samples[i]; per prompt, the mean over its samples of each sample's mean token entropy
    (samples with no tokens are skipped; 0.0 if none)."""
    per_group: dict[int, list[float]] = defaultdict(list)
    for s, ent in zip(samples, entropies, strict=True):
        if ent:
            per_group[s.group_id].append(sum(ent) / len(ent))
    return [sum(v) / len(v) if (v := per_group.get(i)) else 0.0 for i in range(num_prompts)]


class _EngineEstimator:
    def __init__(self, engine: RolloutEngine, entropy_fn: TokenEntropyFn, num_samples: int,
                 max_new_tokens: int, temperature: float, suffix: str):
        self.engine = engine
        self.entropy_fn = entropy_fn
        self.num_samples = num_samples
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.suffix = suffix
        self.tokens_generated = 0
        """Response tokens generated for estimates so far (the estimator's cost)."""

    def __call__(self, prompts: Sequence[Prompt]) -> list[float]:
        requests = [GenerationRequest(replace(p, text=p.text + self.suffix), self.num_samples, i)
                    for i, p in enumerate(prompts)]
        params = SamplingParams(max_new_tokens=self.max_new_tokens, temperature=self.temperature,
                                n=self.num_samples)
        samples = self.engine.generate(requests, params)
        self.tokens_generated += sum(s.num_response_tokens for s in samples)
        return mean_entropy_per_prompt(samples, self.entropy_fn(samples), len(prompts))


class PrefixEntropyEstimator(_EngineEstimator):
    """EDCO's estimator: quick-answer suffix, entropy of the first `prefix_tokens` only."""

    def __init__(self, engine: RolloutEngine, entropy_fn: TokenEntropyFn, prefix_tokens: int = 8,
                 num_samples: int = 4, temperature: float = 1.0, quick_answer_suffix: str = ""):
        super().__init__(engine, entropy_fn, num_samples, prefix_tokens, temperature,
                         quick_answer_suffix)


class FullAnswerEntropyEstimator(_EngineEstimator):
    """Reference: mean token entropy over complete answers (up to `max_new_tokens`)."""

    def __init__(self, engine: RolloutEngine, entropy_fn: TokenEntropyFn, max_new_tokens: int,
                 num_samples: int = 4, temperature: float = 1.0):
        super().__init__(engine, entropy_fn, num_samples, max_new_tokens, temperature, "")


def top_entropy_indices(entropies: Sequence[float], selection_ratio: float) -> list[int]:
    """Indices of the highest-entropy ceil(ratio * n) items, highest first, ties by index."""
    keep = max(1, math.ceil(selection_ratio * len(entropies) - 1e-9))
    return sorted(range(len(entropies)), key=lambda i: (-entropies[i], i))[:keep]


def select_high_entropy(prompts: Sequence[Prompt], estimator: EntropyEstimator,
                        selection_ratio: float) -> list[Prompt]:
    """For SFT: the highest-entropy share of `prompts` under the current model."""
    entropies = estimator(prompts)
    return [prompts[i] for i in top_entropy_indices(entropies, selection_ratio)]


class EDCOSampler:
    """PromptSampler that re-selects the highest-entropy prompts every `refresh_steps`."""

    def __init__(
        self,
        prompts: Sequence[Prompt],
        samples_per_prompt: int,
        seed: int,
        estimator: EntropyEstimator,
        pool_prompts: int = 256,
        refresh_steps: int = 10,
        selection_ratio: float = 0.25,
    ):
        self.prompts = list(prompts)
        self.samples_per_prompt = samples_per_prompt
        self.seed = seed
        self.estimator = estimator
        self._index = {p.id: i for i, p in enumerate(self.prompts)}
        self.pool_prompts = min(pool_prompts, len(self._index))
        self.refresh_steps = refresh_steps
        self.selection_ratio = selection_ratio
        self.pool_order = UniformSampler(self.prompts, 1, seed)
        self.calls = 0
        self.refreshes = 0
        self.selected: list[int] = []
        """Indices into `prompts` of the current selection, in serving order."""
        self.position = 0
        self.last_refresh: dict[str, float] = {}
        """Logged figures of the latest refresh (entropies in nats, time in seconds)."""
        self.estimate_seconds_total = 0.0
        """Wall time spent in the estimator over all refreshes (EDCO's overhead)."""

    def refresh(self) -> None:
        """Draw a candidate pool, estimate its entropy, keep the top share (shuffled)."""
        pool: list[int] = []
        while len(pool) < self.pool_prompts:
            (p, _), = self.pool_order.next_prompts(1)
            if self._index[p.id] not in pool:
                pool.append(self._index[p.id])
        start = time.perf_counter()
        entropies = self.estimator([self.prompts[i] for i in pool])
        seconds = time.perf_counter() - start
        self.estimate_seconds_total += seconds
        top = [pool[i] for i in top_entropy_indices(entropies, self.selection_ratio)]
        order = np.random.default_rng([self.seed, 7, self.refreshes]).permutation(len(top))
        self.selected = [top[i] for i in order]
        self.position = 0
        self.refreshes += 1
        chosen = set(top)
        self.last_refresh = {
            "pool_entropy_mean": float(np.mean(entropies)),
            "selected_entropy_mean": float(np.mean(
                [e for i, e in zip(pool, entropies) if i in chosen])),
            "estimate_seconds": seconds,
        }

    def next_prompts(self, num_prompts: int) -> list[tuple[Prompt, int]]:
        if self.calls % self.refresh_steps == 0:
            self.refresh()
        self.calls += 1
        picked, self.position = take_cycling(self.selected, self.position, num_prompts)
        return [(self.prompts[i], self.samples_per_prompt) for i in picked]

    def observe(self, samples: Sequence[Sample]) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "refreshes": self.refreshes, "position": self.position,
                "selected": [self.prompts[i].id for i in self.selected],
                "pool_order": self.pool_order.state_dict(),
                "last_refresh": dict(self.last_refresh),
                "estimate_seconds_total": self.estimate_seconds_total}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.calls = int(state["calls"])
        self.refreshes = int(state["refreshes"])
        self.position = int(state["position"])
        self.selected = [self._index[pid] for pid in state["selected"]]
        self.pool_order.load_state_dict(state["pool_order"])
        self.last_refresh = dict(state["last_refresh"])
        self.estimate_seconds_total = float(state.get("estimate_seconds_total", 0.0))
