"""Config of the policy-optimisation algorithm (advantage, loss, KL, entropy, RLPT)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from focusrl.configtools import ConfigError


@dataclass
class RLPTConfig:
    """Promising-token RL (RLPT, arXiv 2602.03195): optimise only inside a top-K set."""

    enabled: bool = False
    """Restrict sampling and the loss to the promising set P_t at every position."""
    k: int = 8
    """Size of P_t (top-K tokens); with top_p < 1 this is the minimum size."""
    top_p: float = 1.0
    """Nucleus mass for P_t; 1.0 means plain top-K."""
    source: Literal["policy", "reference"] = "policy"
    """Which model ranks tokens: the rollout policy (free) or the frozen reference model."""

    def validate(self) -> None:
        if self.k < 1:
            raise ConfigError(f"rlpt.k must be >= 1, got {self.k}.")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"rlpt.top_p must be in (0, 1], got {self.top_p}.")


@dataclass
class AlgorithmConfig:
    """Which advantage estimator and policy loss to use, and their coefficients."""

    advantage: str = "grpo"
    """Advantage estimator: grpo (group mean/std), dr_grpo (mean only), rloo, ..."""
    loss: str = "grpo"
    """Policy loss: grpo (PPO clipped ratio), ... (see focusrl.algorithms.losses)."""
    aggregation: Literal["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"] = (
        "token_mean"
    )
    """How per-token losses become one number: token_mean (every token of the batch
    weighs the same, DAPO), seq_mean_token_mean (mean per sequence, then over sequences,
    original GRPO), seq_mean_token_sum_norm (sum per sequence / a constant, Dr.GRPO)."""
    std_normalize: bool = True
    """Divide group-centred rewards by the group std (GRPO); False gives Dr.GRPO advantages."""
    std_eps: float = 1e-4
    """Added to the group std before dividing."""
    clip_eps_low: float = 0.2
    """Lower PPO clip: the ratio is clipped below at 1 - clip_eps_low."""
    clip_eps_high: float = 0.2
    """Upper PPO clip: ratio clipped above at 1 + clip_eps_high (DAPO clip-higher: 0.28)."""
    kl_coef: float = 0.0
    """Weight of the KL penalty to the frozen reference model; 0 disables the reference."""
    kl_estimator: Literal["k1", "k2", "k3"] = "k3"
    """KL estimator (Schulman): k1 = -d, k2 = d^2/2, k3 = exp(d) - d - 1, d = logp_ref - logp."""
    kl_clamp: float = 10.0
    """Clamp |d| (log-ratio to the reference) before the estimator, for stability."""
    entropy_coef: float = 0.0
    """Entropy bonus weight (subtracted from the loss)."""
    max_length_normalizer: int = 0
    """Constant normaliser for seq_mean_token_sum_norm; 0 uses rollout.max_response_tokens."""
    rlpt: RLPTConfig = field(default_factory=RLPTConfig)
    """Promising-token restriction (RLPT)."""

    def validate(self) -> None:
        if self.clip_eps_low < 0 or self.clip_eps_high < 0:
            raise ConfigError("algorithm.clip_eps_low and clip_eps_high must be >= 0.")
        if self.kl_coef < 0:
            raise ConfigError(f"algorithm.kl_coef must be >= 0, got {self.kl_coef}.")
