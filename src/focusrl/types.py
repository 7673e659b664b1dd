"""The typed records that cross module boundaries.

Everything downstream of the prompt source reads and writes these: a `Prompt` goes
into the rollout engine, a `Sample` comes out and is scored, given an advantage and
trained on. Groups are formed from `Sample.group_id`, never from batch position, so
groups may differ in size (dynamic sampling, knapsack budgets, filtered samples).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Prompt:
    """One task instance: what the model is asked and what a checker compares with."""

    id: str
    """Stable identifier (dataset row id or generator index); used in logs and stats."""
    text: str
    """The prompt as the model sees it, after any template or chat formatting."""
    answer: Any = None
    """Ground truth for verifiers (a string, number, or task-specific record)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Task-specific extras: difficulty, subject, level, test code, ..."""


@dataclass
class SamplingParams:
    """How the engine samples: one object shared by HF and vLLM engines."""

    max_new_tokens: int = 32
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    """0 means no top-k filter."""
    n: int = 1
    """Samples per prompt."""
    greedy: bool = False
    promising_k: int = 0
    """RLPT: when > 0, sample only inside the top-k promising set and return it."""
    promising_top_p: float = 1.0
    """RLPT: nucleus mass for the promising set (at least `promising_k` tokens kept)."""
    promising_max_k: int = 0
    """RLPT: with promising_top_p < 1, the most tokens P_t may hold (stored width)."""
    promising_source: str = "policy"
    """RLPT: 'policy' ranks tokens by the sampling model, 'reference' by the frozen reference."""
    ignore_eos: bool = False
    """Generate exactly max_new_tokens (benchmarks); EOS does not stop a sample."""
    seed: int | None = None
    """When set, this call samples from its own random stream seeded by it and leaves the
    engine's own stream untouched (evaluation uses this, so it never shifts training)."""


@dataclass
class Sample:
    """One generated response and everything computed about it.

    Shapes: `response_ids`, `logprobs` and `loss_mask` have one entry per response token (T);
    `support`, when present, is an int tensor (T, K) of promising-token ids with -1
    padding where a position kept fewer than K tokens.
    """

    prompt_id: str
    group_id: int
    """Samples of the same prompt in the same step share a group id."""
    prompt_ids: list[int]
    response_ids: list[int]
    logprobs: list[float]
    """Log-probs of the sampled tokens under the distribution actually sampled from."""
    response_text: str = ""
    prompt_text: str = ""
    answer: Any = None
    meta: dict[str, Any] = field(default_factory=dict)
    support: torch.Tensor | None = None
    """RLPT promising-token ids per position, (T, K), -1 padded; None when unrestricted."""
    finished: bool = True
    """True when generation stopped on EOS, False when it hit the token limit."""
    reward_parts: dict[str, float] = field(default_factory=dict)
    reward: float = 0.0
    advantage: float = 0.0
    filtered: bool = False
    """Excluded from the loss (e.g. overlong filtering); still logged."""
    loss_mask: list[int] | None = None
    """Per response token: 1 if it enters the loss, 0 if not (environment or tool tokens
    of a multi-turn episode). None means every response token does. Batching and every
    loss honour it."""
    token_advantages: list[float] | None = None
    """Per response token advantages (multi-turn turn-level credit, envs/credit.py); when
    set they replace `advantage` in the loss. None: `advantage` for every token."""
    policy_version: int = 0
    """The version of the policy weights that generated this sample: the number of
    optimizer updates the engine had received (train's weight-sync stage)."""
    stats: dict[str, float] = field(default_factory=dict)
    """Per-sample diagnostics from the engine (e.g. RLPT support mass)."""

    @property
    def truncated(self) -> bool:
        return not self.finished

    @property
    def num_response_tokens(self) -> int:
        return len(self.response_ids)


@dataclass
class GenerationRequest:
    """Ask the engine for `num_samples` responses to `prompt`, all in group `group_id`."""

    prompt: Prompt
    num_samples: int
    group_id: int
    prompt_ids: list[int] | None = None
    """Token in, token out: when set, the engine continues exactly these ids (e.g. a
    multi-turn episode's history) instead of tokenising `prompt.text`."""
