"""Config of the prompt sampler (which prompts next, and how many samples each)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from focusrl.configtools import ConfigError


@dataclass
class CurriculumConfig:
    """Prompt selection and per-prompt sample budgets."""

    kind: Literal["uniform", "edco", "knapsack", "ladder", "easy_to_hard", "perplexity"] = (
        "uniform")
    """uniform: shuffled passes over the training prompts, samples_per_prompt each.
    edco: every edco_refresh_steps calls, re-estimate the entropy of a candidate pool
    under the current model and train on its highest-entropy part (arXiv 2601.03725).
    knapsack: shuffled passes, but samples per prompt are allocated from a fixed total
    by a knapsack over recent success rates (arXiv 2509.25849).
    ladder: train on one difficulty rung (prompts grouped by meta['difficulty']) and move
    to the next when pass@k over a window reaches a threshold (SATURN, arXiv 2505.16368).
    easy_to_hard: a fixed order by ascending meta['difficulty'], cycling.
    perplexity: a fixed order by ascending perplexity of the reference answer under the
    initial model (computed once at the first step), cycling: EDCO's static baseline."""

    # -- EDCO --------------------------------------------------------------------------
    edco_prefix_tokens: int = 8
    """Tokens generated per estimation sample; entropy is averaged over these only."""
    edco_samples_per_prompt: int = 4
    """Samples per candidate prompt for the entropy estimate."""
    edco_pool_prompts: int = 256
    """Candidate prompts re-estimated at each refresh (drawn by shuffled passes)."""
    edco_refresh_steps: int = 10
    """Calls of next_prompts (training steps) between two re-estimations."""
    edco_selection_ratio: float = 0.25
    """Share of the pool kept for training: the highest-entropy ceil(ratio * pool)."""
    edco_temperature: float = 1.0
    """Sampling temperature of the estimation samples."""
    edco_quick_answer_suffix: str = ""
    """Quick-answer prompting: text appended to each (formatted) prompt before
    estimation, asking for the answer directly. With a chat template it lands at the
    start of the assistant turn, so write it as an answer prefix (e.g. 'The answer is').
    Empty: the prefix is the first tokens of a normal answer, which may be boilerplate
    (where answers restate the question, the prefix ranking agreed with whole answers at
    Spearman 0.23; docs/benchmarks.md)."""

    # -- Knapsack budgets ----------------------------------------------------------------
    knapsack_default_samples: int = 0
    """Samples for a prompt never seen before; 0 = rollout.samples_per_prompt."""
    knapsack_extreme_samples: int = 2
    """Samples for a prompt whose recent success rate is exactly 0 or 1."""
    knapsack_min_samples: int = 2
    """Least samples for any other prompt before the DP spends the rest of the budget."""
    knapsack_max_samples: int = 128
    """Most samples one prompt can get."""
    knapsack_history_samples: int = 32
    """Recent outcomes kept per prompt for its success rate."""
    success_reward: float = 1.0
    """A sample counts as a success (knapsack rates, ladder pass@k) when reward >= this."""

    # -- Difficulty ladder -------------------------------------------------------------
    ladder_window_groups: int = 32
    """Prompt groups on the current rung over which pass@k is averaged."""
    ladder_pass_k: int = 1
    """k of the pass@k promotion criterion (at most the group size)."""
    ladder_promote_threshold: float = 0.75
    """Move to the next rung when mean pass@k over a full window reaches this."""
    ladder_start_rung: int = 0
    """Index of the first rung (rungs sorted by increasing meta['difficulty'])."""

    def validate(self) -> None:
        if self.edco_prefix_tokens < 1 or self.edco_samples_per_prompt < 1:
            raise ConfigError("curriculum.edco_prefix_tokens and edco_samples_per_prompt "
                              "must be >= 1.")
        if self.edco_pool_prompts < 1 or self.edco_refresh_steps < 1:
            raise ConfigError("curriculum.edco_pool_prompts and edco_refresh_steps must be >= 1.")
        if not 0 < self.edco_selection_ratio <= 1:
            raise ConfigError("curriculum.edco_selection_ratio must be in (0, 1], got "
                              f"{self.edco_selection_ratio}.")
        if not 1 <= self.knapsack_min_samples <= self.knapsack_max_samples:
            raise ConfigError("curriculum needs 1 <= knapsack_min_samples <= "
                              "knapsack_max_samples.")
        if self.knapsack_extreme_samples < 1 or self.knapsack_history_samples < 1:
            raise ConfigError("curriculum.knapsack_extreme_samples and "
                              "knapsack_history_samples must be >= 1.")
        if self.ladder_window_groups < 1 or self.ladder_pass_k < 1:
            raise ConfigError("curriculum.ladder_window_groups and ladder_pass_k must be >= 1.")
