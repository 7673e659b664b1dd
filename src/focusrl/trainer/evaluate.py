"""Held-out evaluation of a policy through the evaluation harness.

A sample counts as correct when the accuracy part (rewards.accuracy_part, by default the
first part) reaches its threshold; `CorrectnessRewarder` turns the reward pipeline into that 0/1
signal for `focusrl.evaluation.evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from focusrl.evaluation import EvalResult, evaluate
from focusrl.rewards.base import RewardPipeline
from focusrl.rollout.base import RolloutEngine
from focusrl.types import Prompt, Sample


def is_correct(sample: Sample, rewards: RewardPipeline) -> bool:
    """The sample reaches the threshold of the accuracy part (rewards.accuracy_part)."""
    name = rewards.cfg.accuracy_part
    part = next(p for p in rewards.cfg.parts if p.label == name) if name else rewards.cfg.parts[0]
    return sample.reward_parts.get(part.label, 0.0) >= part.threshold


SampleObserver = Callable[[Sequence[Sample], Sequence[bool]], None]
"""Sees each scored evaluation batch and which samples were correct (e.g. the samples log)."""


class CorrectnessRewarder:
    """1.0 when the primary reward part reaches its threshold, else 0.0."""

    def __init__(self, rewards: RewardPipeline, observe: SampleObserver | None = None):
        self.rewards = rewards
        self.observe = observe

    def score(self, samples: Sequence[Sample]) -> list[float]:
        self.rewards.score(samples)
        correct = [is_correct(s, self.rewards) for s in samples]
        if self.observe is not None:
            self.observe(samples, correct)
        return [float(ok) for ok in correct]


def evaluate_on(
    engine: RolloutEngine, prompts: Sequence[Prompt], rewards: RewardPipeline, *,
    n_samples: int, ks: Sequence[int], temperature: float, max_new_tokens: int, seed: int,
    observe: SampleObserver | None = None,
) -> EvalResult:
    """The harness on its own random stream (seeded by `seed`), so evaluation never
    shifts the training sampler's random stream and runs resume exactly."""
    return evaluate(engine, prompts, CorrectnessRewarder(rewards, observe), n_samples, ks,
                    temperature, max_new_tokens, seed=seed)


def evaluate_policy(
    engine: RolloutEngine,
    prompts: Sequence[Prompt],
    rewards: RewardPipeline,
    max_new_tokens: int,
    samples_per_prompt: int = 0,
    temperature: float = 1.0,
    seed: int = 0,
    observe: SampleObserver | None = None,
) -> dict[str, float]:
    """`eval/accuracy` (greedy), plus `eval/pass@k` for k = 1, 2, 4, .. <= samples_per_prompt.
    `observe` sees the greedy samples as they are scored."""
    if not prompts:
        return {}
    greedy = evaluate_on(engine, prompts, rewards, n_samples=1, ks=(1,), temperature=0.0,
                         max_new_tokens=max_new_tokens, seed=seed, observe=observe)
    result = {"eval/accuracy": greedy.metrics["pass@1"]}
    if samples_per_prompt > 0:
        ks = [2**i for i in range(samples_per_prompt.bit_length()) if 2**i <= samples_per_prompt]
        sampled = evaluate_on(engine, prompts, rewards, n_samples=samples_per_prompt, ks=ks,
                              temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
        result.update({f"eval/pass@{k}": sampled.metrics[f"pass@{k}"] for k in ks})
    return result
