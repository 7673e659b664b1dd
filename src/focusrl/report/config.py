"""The `doctor` config section: thresholds of the run doctor's rules (report/doctor.py)."""

from __future__ import annotations

from dataclasses import dataclass

from focusrl.configtools import ConfigError


@dataclass
class DoctorConfig:
    """Rules checked over metrics.jsonl during the run and in the report. A rule looks at
    the mean of its metric over the newest `window` steps, so one noisy step does not fire it."""

    enabled: bool = True
    """Check the rules during the run (a warning in the log and on the progress line)."""
    window: int = 5
    """Steps averaged by each rule (the newest ones)."""
    entropy_min: float = 0.05
    """entropy_collapse fires when the mean token entropy (nats) falls below this ..."""
    entropy_drop_ratio: float = 0.1
    """... or below this fraction of its value over the first `window` steps."""
    min_nonzero_group_frac: float = 0.5
    """no_gradient_groups fires when the share of groups whose rewards differ
    (groups_nonzero_adv) stays below this: most groups then give no gradient."""
    max_truncated_frac: float = 0.3
    """high_truncation fires when more than this share of responses hits
    rollout.max_response_tokens (truncated_frac)."""
    max_logp_mismatch: float = 0.05
    """logp_mismatch fires when the mean |trainer - sampler| log-prob per token exceeds this
    (or mismatch_kl, when logged, exceeds it)."""
    max_reward_failure_frac: float = 0.01
    """reward_failures fires when more than this share of samples failed a reward part."""
    max_skipped_updates: int = 0
    """skipped_updates fires when more optimizer steps than this were skipped (non-finite
    loss or gradient) within the window."""
    max_kl: float = 1.0
    """kl_blowup fires when the KL to the reference policy exceeds this."""
    hack_eval_drop: float = 0.05
    """reward_hacking fires when the held-out metric fell by more than this from its best ..."""
    hack_reward_rise: float = 0.05
    """... while the training reward rose by more than this since that best evaluation."""
    eval_metric: str = "eval/accuracy"
    """The held-out metric reward_hacking watches."""

    def validate(self) -> None:
        if self.window < 1:
            raise ConfigError(f"doctor.window must be >= 1, got {self.window}.")
        for name in ("entropy_drop_ratio", "min_nonzero_group_frac", "max_truncated_frac",
                     "max_reward_failure_frac"):
            val = getattr(self, name)
            if not 0 <= val <= 1:
                raise ConfigError(f"doctor.{name} is a fraction in [0, 1], got {val}.")
