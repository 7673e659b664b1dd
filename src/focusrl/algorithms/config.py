"""Config of the policy-optimisation algorithm (advantage, loss, KL, entropy, RLPT).

Loss names select a function; a paper's other choices are plain field values, so a
preset is just a set of fields (see docs/algorithms.md and examples/<loss>.yaml):
DAPO = loss dapo + aggregation token_mean + clip_eps_high 0.28 + dynamic_sampling +
overlong_filter (or the soft punishment in rewards); Dr.GRPO = loss dr_grpo +
advantage dr_grpo + aggregation seq_mean_token_sum_norm.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

from focusrl.configtools import ConfigError

# The aggregation a loss name promises (its paper's defining choice); validate() checks it.
REQUIRED_AGGREGATION = {"dapo": "token_mean", "dr_grpo": "seq_mean_token_sum_norm"}


@dataclass
class RLPTConfig:
    """Promising-token RL (RLPT, arXiv 2602.03195): optimise only inside a top-K set."""

    enabled: bool = False
    """Restrict sampling and the loss to the promising set P_t at every position."""
    k: int = 8
    """Size of P_t (top-K tokens); with top_p < 1 this is the minimum size."""
    top_p: float = 1.0
    """Nucleus mass for P_t; 1.0 means plain top-K."""
    max_k: int = 64
    """With top_p < 1: the most tokens P_t may hold (the stored width); ignored at top_p 1."""
    source: Literal["policy", "reference"] = "policy"
    """Which model ranks tokens: the rollout policy (free) or the frozen reference model."""

    @property
    def width(self) -> int:
        """Stored support width per position: k for plain top-K, else max(k, max_k)."""
        return self.k if self.top_p >= 1.0 else max(self.k, self.max_k)

    def validate(self) -> None:
        if self.k < 1:
            raise ConfigError(f"rlpt.k must be >= 1, got {self.k}.")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"rlpt.top_p must be in (0, 1], got {self.top_p}.")
        if self.max_k < 1:
            raise ConfigError(f"rlpt.max_k must be >= 1, got {self.max_k}.")


@dataclass
class AlgorithmConfig:
    """Which advantage estimator and policy loss to use, and their coefficients."""

    advantage: str = "grpo"
    """Advantage estimator: grpo, dr_grpo, grpo_batch_std, rloo, reinforce_pp,
    reinforce_pp_baseline, gdpo (each reward part normalised in its group, then summed:
    multi-reward runs)."""
    loss: str = "grpo"
    """Policy loss: grpo, dapo, dr_grpo (PPO clip), gspo, cispo, clip_cov, kl_cov, lp_reg."""
    aggregation: Literal["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"] = (
        "token_mean"
    )
    """How per-token losses become one number: token_mean (every token of the batch
    weighs the same, DAPO), seq_mean_token_mean (mean per sequence, then over sequences,
    original GRPO), seq_mean_token_sum_norm (sum per sequence / a constant, Dr.GRPO)."""
    std_normalize: bool = True
    """Divide group-centred rewards by the group std (GRPO); False gives Dr.GRPO advantages."""
    std_eps: float = 1e-4
    """Added to the group std (or batch std for REINFORCE++) before dividing."""
    batch_normalize: bool = False
    """After the estimator, whiten the advantages over the step: (A - mean) / (std +
    std_eps) (TRL RLOO's normalize_advantages). A group whose rewards are all equal then
    gets -mean / std instead of 0: such groups no longer drop out of the gradient."""
    clip_eps_low: float = 0.2
    """Lower PPO clip: the ratio is clipped below at 1 - clip_eps_low."""
    clip_eps_high: float = 0.2
    """Upper PPO clip: ratio clipped above at 1 + clip_eps_high (DAPO clip-higher: 0.28)."""
    gspo_clip_eps_low: float = 3e-4
    """GSPO (arXiv 2507.18071): lower clip of the sequence-level ratio (paper: 3e-4)."""
    gspo_clip_eps_high: float = 4e-4
    """GSPO: upper clip of the sequence-level ratio (paper: 4e-4)."""
    cispo_ratio_max: float = 5.0
    """CISPO (arXiv 2506.13585): the detached IS weight is clamped to at most this
    (TRL's epsilon_high for cispo, ScaleRL's eps_max); no lower clamp, as in the paper."""
    kl_coef: float = 0.0
    """Weight of the KL penalty to the frozen reference model; 0 disables the reference."""
    kl_estimator: Literal["k1", "k2", "k3"] = "k3"
    """KL estimator (Schulman): k1 = -d, k2 = d^2/2, k3 = exp(d) - d - 1, d = logp_ref - logp."""
    kl_importance_weighted: bool = False
    """Multiply the per-token KL estimate by the ratio pi/pi_old (DeepSeek-V3.2, arXiv
    2512.02556; TRL's default use_bias_correction_kl): unbiased when the batch is off-policy."""
    kl_clamp: float = 10.0
    """Clamp d (log-ratio to the reference) to [-kl_clamp, kl_clamp]; 0 disables."""
    entropy_coef: float = 0.0
    """Entropy bonus weight (subtracted from the loss)."""
    clip_cov_ratio: float = 2e-4
    """Clip-Cov (arXiv 2505.22617): share of valid tokens whose gradient is detached."""
    clip_cov_lb: float = 1.0
    """Clip-Cov: only tokens with clip_cov_lb < cov < clip_cov_ub can be detached."""
    clip_cov_ub: float = 5.0
    """Clip-Cov: upper bound of the covariance window."""
    kl_cov_ratio: float = 2e-4
    """KL-Cov (arXiv 2505.22617): share of valid tokens (top by cov) that get the KL term
    (paper: 2e-4; 2e-3 for 7B)."""
    kl_cov_coef: float = 1.0
    """KL-Cov: weight of |logp - old_logp| on the selected tokens (paper scripts: 1)."""
    lp_reg_min_p: float = 0.02
    """Lp-Reg (arXiv 2510.03222): the proxy drops tokens below min_p * max probability."""
    lp_reg_rho: float = 0.01
    """Lp-Reg: take the lowest-probability rho share of negative-advantage tokens (none if
    it is <= 1 token), then regularise those below the proxy (the authors' rule)."""
    lp_reg_coef: float = 1.0
    """Lp-Reg: weight of k3-KL(policy || proxy) on the selected tokens."""
    max_length_normalizer: int = 0
    """Constant normaliser for seq_mean_token_sum_norm; 0 uses rollout.max_response_tokens."""
    dynamic_sampling: bool = False
    """DAPO: drop groups whose rewards are all equal and sample more prompts to refill."""
    dynamic_sampling_max_rounds: int = 3
    """DAPO dynamic sampling: most generation rounds per step (the first included)."""
    overlong_filter: bool = False
    """DAPO overlong filtering: truncated samples (no EOS) get no loss."""
    tis_cap: float = 0.0
    """Truncated importance sampling for the train-inference mismatch (Yao et al. 2025,
    "Your efficient RL framework secretly brings you off-policy RL training"; verl/SkyRL
    "TIS"): each token's policy loss is multiplied by min(pi_train / pi_engine, tis_cap),
    detached, where pi_train is the trainer's recompute of the behaviour policy and
    pi_engine the engine's sampling probability. 0 disables; the paper uses 2."""
    mis_threshold: float = 0.0
    """Sequence-level masked importance sampling ("MIS"): a sample whose geometric-mean
    ratio exp(mean_t log(pi_train / pi_engine)) is above mis_threshold or below
    1 / mis_threshold gets no policy loss. 0 disables; e.g. 2."""
    rlpt: RLPTConfig = field(default_factory=RLPTConfig)
    """Promising-token restriction (RLPT)."""

    def validate(self) -> None:
        # Imported here: the registries import this module.
        from focusrl.algorithms.advantages import ADVANTAGES, PART_ADVANTAGES
        from focusrl.algorithms.losses import LOSSES

        for key, value, valid in (("loss", self.loss, LOSSES), ("advantage", self.advantage,
                                                                  {**ADVANTAGES,
                                                                   **PART_ADVANTAGES})):
            if value not in valid:
                close = difflib.get_close_matches(value, list(valid), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"algorithm.{key} {value!r} is unknown; choose one of "
                                  f"{', '.join(valid)}.{hint}")
        want = REQUIRED_AGGREGATION.get(self.loss)
        if want and self.aggregation != want:
            raise ConfigError(
                f"algorithm.loss={self.loss} means aggregation={want} (its paper's choice); "
                f"got {self.aggregation}. Set algorithm.aggregation={want}, or use loss=grpo "
                "to combine the PPO clip loss with another aggregation."
            )
        for name in ("clip_eps_low", "clip_eps_high", "gspo_clip_eps_low", "gspo_clip_eps_high"):
            if getattr(self, name) < 0:
                raise ConfigError(f"algorithm.{name} must be >= 0.")
        if self.kl_coef < 0:
            raise ConfigError(f"algorithm.kl_coef must be >= 0, got {self.kl_coef}.")
        if self.cispo_ratio_max <= 0:
            raise ConfigError("algorithm.cispo_ratio_max must be > 0.")
        for name in ("clip_cov_ratio", "kl_cov_ratio", "lp_reg_rho", "lp_reg_min_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"algorithm.{name} must be in [0, 1].")
        if self.tis_cap < 0 or 0 < self.tis_cap < 1:
            raise ConfigError(f"algorithm.tis_cap must be 0 (off) or >= 1, got {self.tis_cap}.")
        if self.mis_threshold < 0 or 0 < self.mis_threshold <= 1:
            raise ConfigError("algorithm.mis_threshold must be 0 (off) or > 1, got "
                              f"{self.mis_threshold}.")
        if self.dynamic_sampling_max_rounds < 1:
            raise ConfigError("algorithm.dynamic_sampling_max_rounds must be >= 1.")
        self.rlpt.validate()
