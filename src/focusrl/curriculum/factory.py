"""Build the configured prompt sampler."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from focusrl.configtools import ConfigError
from focusrl.curriculum.base import PromptSampler, UniformSampler
from focusrl.curriculum.config import CurriculumConfig
from focusrl.curriculum.edco import EDCOSampler, EntropyEstimator, PrefixEntropyEstimator
from focusrl.curriculum.knapsack import KnapsackSampler
from focusrl.curriculum.ladder import LadderSampler
from focusrl.curriculum.static import (
    AnswerPerplexity,
    EasyToHardSampler,
    PerplexitySampler,
    PerplexityScorer,
)
from focusrl.rollout.base import RolloutEngine
from focusrl.types import Prompt


def build_sampler(
    cfg: CurriculumConfig,
    prompts: Sequence[Prompt],
    samples_per_prompt: int,
    seed: int,
    engine: RolloutEngine | None = None,
    policy: Any = None,
    estimator: EntropyEstimator | None = None,
    scorer: PerplexityScorer | None = None,
) -> PromptSampler:
    """The sampler `cfg.kind` names. EDCO needs `engine` (to sample prefixes) and `policy`
    (a trainer/policy_scoring.PolicyScorer: the current policy's entropies) unless an
    `estimator` is given directly; `perplexity` scores answers with `policy`'s model unless
    a `scorer` is given."""
    if cfg.kind == "uniform":
        return UniformSampler(prompts, samples_per_prompt, seed)
    if cfg.kind == "edco":
        if estimator is None:
            if engine is None or policy is None:
                raise ConfigError("curriculum.kind 'edco' needs the rollout engine and the "
                                  "policy to estimate entropy; pass engine= and policy= to "
                                  "build_sampler.")
            estimator = PrefixEntropyEstimator(
                engine, policy.token_entropies, cfg.edco_prefix_tokens, cfg.edco_samples_per_prompt,
                cfg.edco_temperature, cfg.edco_quick_answer_suffix)
        return EDCOSampler(prompts, samples_per_prompt, seed, estimator,
                           cfg.edco_pool_prompts, cfg.edco_refresh_steps,
                           cfg.edco_selection_ratio)
    if cfg.kind == "knapsack":
        return KnapsackSampler(prompts, samples_per_prompt, seed,
                               cfg.knapsack_default_samples, cfg.knapsack_extreme_samples,
                               cfg.knapsack_min_samples, cfg.knapsack_max_samples,
                               cfg.knapsack_history_samples, cfg.success_reward)
    if cfg.kind == "ladder":
        return LadderSampler(prompts, samples_per_prompt, seed, cfg.ladder_window_groups,
                             cfg.ladder_pass_k, cfg.ladder_promote_threshold,
                             cfg.success_reward, cfg.ladder_start_rung)
    if cfg.kind == "easy_to_hard":
        return EasyToHardSampler(prompts, samples_per_prompt, seed)
    if cfg.kind == "perplexity":
        if scorer is None:
            if policy is None:
                raise ConfigError("curriculum.kind 'perplexity' scores answers with the "
                                  "policy; pass policy= (a PolicyScorer) or scorer= to "
                                  "build_sampler.")
            scorer = AnswerPerplexity(policy.model, policy.tokenizer, policy.device)
        return PerplexitySampler(prompts, samples_per_prompt, seed, scorer)
    raise ConfigError(f"curriculum.kind: unknown kind '{cfg.kind}'.")
