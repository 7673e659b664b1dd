"""Held-out evaluation during training: greedy accuracy and unbiased pass@k.

A sample counts as correct when the first reward part (the primary, correctness part)
reaches its threshold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch

from focusrl.evaluation.metrics import pass_at_k
from focusrl.rewards.base import RewardPipeline
from focusrl.rollout.hf_engine import HFEngine
from focusrl.types import GenerationRequest, Prompt, Sample, SamplingParams


def is_correct(sample: Sample, rewards: RewardPipeline) -> bool:
    primary = rewards.cfg.parts[0]
    return sample.reward_parts.get(primary.label, 0.0) >= primary.threshold


def evaluate_policy(
    engine: HFEngine,
    prompts: Sequence[Prompt],
    rewards: RewardPipeline,
    max_new_tokens: int,
    samples_per_prompt: int = 0,
    temperature: float = 1.0,
    seed: int = 0,
) -> dict[str, float]:
    """Greedy accuracy, plus pass@1..k from `samples_per_prompt` samples when > 0.

    Sampling uses its own generator seeded by `seed`, so evaluation never shifts the
    training sampler's random stream (runs resume exactly).
    """
    if not prompts:
        return {}
    reqs = [GenerationRequest(p, 1, i) for i, p in enumerate(prompts)]
    greedy = engine.generate(reqs, SamplingParams(max_new_tokens=max_new_tokens, greedy=True))
    rewards.score(greedy)
    result = {"eval/accuracy": sum(is_correct(s, rewards) for s in greedy) / len(greedy),
              "eval/reward": sum(s.reward for s in greedy) / len(greedy)}
    if samples_per_prompt > 0:
        saved = engine.generator
        engine.generator = torch.Generator(device=engine.device).manual_seed(seed)
        try:
            reqs = [GenerationRequest(p, samples_per_prompt, i) for i, p in enumerate(prompts)]
            params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature)
            samples = engine.generate(reqs, params)
        finally:
            engine.generator = saved
        rewards.score(samples)
        correct: dict[int, int] = defaultdict(int)
        for s in samples:
            correct[s.group_id] += int(is_correct(s, rewards))
        k = 1
        while k <= samples_per_prompt:
            vals = [pass_at_k(samples_per_prompt, correct[g], k) for g in range(len(prompts))]
            result[f"eval/pass@{k}"] = sum(vals) / len(vals)
            k *= 2
    return result
