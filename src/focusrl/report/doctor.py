"""The run doctor: rules over a run's metrics that name what is wrong and what to change.

Every rule is a pure function `(metrics, cfg) -> Finding | None` over the list of
metrics.jsonl records seen so far (oldest first), so the same code runs during training
(`Doctor.check`, after each step) and in the report (`scan`, replaying the run step by
step), and tests feed it synthetic metrics. A rule looks at the mean over the newest
`doctor.window` steps, so one noisy step does not fire it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from focusrl.report.config import DoctorConfig

Metrics = Sequence[dict[str, Any]]


@dataclass
class Finding:
    """One rule that fired: at which step, the numbers that made it fire, and what to do."""

    rule: str
    step: int
    evidence: str
    fix: str

    def message(self) -> str:
        return f"doctor: {self.rule} at step {self.step}: {self.evidence}. Fix: {self.fix}"


def _values(metrics: Metrics, key: str) -> list[tuple[int, float]]:
    """(step, value) of every record that logged a finite `key`."""
    out = []
    for r in metrics:
        v = r.get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            out.append((int(r.get("step", len(out))), float(v)))
    return out


def _recent_mean(metrics: Metrics, key: str, window: int) -> float | None:
    """Mean of `key` over the newest `window` records (None until `window` have it)."""
    vals = [v for _, v in _values(metrics[-window:], key)]
    return sum(vals) / len(vals) if len(vals) == window else None


def _step(metrics: Metrics) -> int:
    return int(metrics[-1].get("step", len(metrics))) if metrics else 0


def entropy_collapse(metrics: Metrics, cfg: DoctorConfig) -> Finding | None:
    now = _recent_mean(metrics, "entropy", cfg.window)
    first = [v for _, v in _values(metrics, "entropy")[: cfg.window]]
    if now is None or len(metrics) < 2 * cfg.window:
        return None
    start = sum(first) / len(first)
    if now < cfg.entropy_min or now < cfg.entropy_drop_ratio * start:
        return Finding(
            "entropy_collapse", _step(metrics),
            f"mean token entropy {now:.3g} nats over the last {cfg.window} steps, down from "
            f"{start:.3g} in the first {cfg.window} (thresholds: < {cfg.entropy_min} or < "
            f"{cfg.entropy_drop_ratio:.0%} of the start)",
            "the policy has stopped exploring: raise the upper clip (algorithm.clip_eps_high"
            "=0.28, DAPO clip-higher), use an entropy-aware loss (algorithm.loss=clip_cov or "
            "kl_cov), add a small bonus (algorithm.entropy_coef=0.001), or raise "
            "rollout.temperature")
    return None


def no_gradient_groups(metrics: Metrics, cfg: DoctorConfig) -> Finding | None:
    now = _recent_mean(metrics, "groups_nonzero_adv", cfg.window)
    if now is None or now >= cfg.min_nonzero_group_frac:
        return None
    acc = _recent_mean(metrics, "accuracy", cfg.window)
    why = ""
    if acc is not None:
        why = (" (accuracy {:.0%}: the prompts are {})".format(
            acc, "too easy" if acc > 0.5 else "too hard"))
    return Finding(
        "no_gradient_groups", _step(metrics),
        f"only {now:.0%} of groups had unequal rewards over the last {cfg.window} steps "
        f"(groups_nonzero_adv < {cfg.min_nonzero_group_frac:.0%}){why}; the others give no "
        "gradient",
        "skip equal-reward groups and refill (algorithm.dynamic_sampling=true), pick prompts "
        "of the right difficulty (curriculum.kind=knapsack or edco), or raise "
        "rollout.samples_per_prompt")


def high_truncation(metrics: Metrics, cfg: DoctorConfig) -> Finding | None:
    now = _recent_mean(metrics, "truncated_frac", cfg.window)
    if now is None or now <= cfg.max_truncated_frac:
        return None
    return Finding(
        "high_truncation", _step(metrics),
        f"{now:.0%} of responses hit rollout.max_response_tokens over the last {cfg.window} "
        f"steps (truncated_frac > {cfg.max_truncated_frac:.0%})",
        "raise rollout.max_response_tokens, or keep truncated answers out of the loss "
        "(algorithm.overlong_filter=true) or penalise them (an overlong reward part)")


def logp_mismatch(metrics: Metrics, cfg: DoctorConfig) -> Finding | None:
    for key in ("logp_mismatch", "mismatch_kl"):
        now = _recent_mean(metrics, key, cfg.window)
        if now is not None and now > cfg.max_logp_mismatch:
            return Finding(
                "logp_mismatch", _step(metrics),
                f"{key} {now:.3g} over the last {cfg.window} steps (> "
                f"{cfg.max_logp_mismatch}): the engine that samples and the trainer disagree "
                "on the log-probs, so the update is off-policy",
                "compute both sides in the same precision (model.mixed_precision=none, "
                "model.dtype=float32), check that the engine samples with the loss's "
                "temperature, or correct the gap with truncated importance sampling (TIS/MIS)")
    return None


def reward_failures(metrics: Metrics, cfg: DoctorConfig) -> Finding | None:
    recent = metrics[-cfg.window:]
    samples = sum(float(r.get("samples_generated", r.get("num_samples", 0)) or 0)
                  for r in recent)
    parts: dict[str, float] = {}
    for r in recent:
        for k, v in r.items():
            if k.startswith("reward_failures/") and isinstance(v, (int, float)):
                parts[k.split("/", 1)[1]] = parts.get(k.split("/", 1)[1], 0.0) + v
    failed = sum(parts.values())
    if not failed or failed <= cfg.max_reward_failure_frac * max(samples, 1.0):
        return None
    worst = ", ".join(f"{p}: {int(n)}" for p, n in sorted(parts.items(), key=lambda x: -x[1]))
    return Finding(
        "reward_failures", _step(metrics),
        f"{int(failed)} of {int(samples)} samples failed a reward part in the last "
        f"{len(recent)} steps ({worst}); failed parts score their fallback, not the answer",
        "run the failing part on a few samples by hand (its error is in the log), raise its "
        "time limit (rewards.parts[i].timeout_s or rewards.part_timeout_s), or fix its args")


def skipped_updates(metrics: Metrics, cfg: DoctorConfig) -> Finding | None:
    recent = metrics[-cfg.window:]
    skipped = sum(float(r.get("skipped_updates", 0) or 0) for r in recent)
    if skipped <= cfg.max_skipped_updates:
        return None
    return Finding(
        "skipped_updates", _step(metrics),
        f"{int(skipped)} optimizer step(s) skipped in the last {len(recent)} steps (a "
        "non-finite loss or gradient, or no informative group after dynamic sampling)",
        "lower optim.lr or keep optim.grad_clip on; in half precision use "
        "model.mixed_precision=bf16 with float32 parameters; with dynamic sampling, raise "
        "algorithm.dynamic_sampling_max_rounds")


def kl_blowup(metrics: Metrics, cfg: DoctorConfig) -> Finding | None:
    now = _recent_mean(metrics, "kl", cfg.window)
    if now is None or now <= cfg.max_kl:
        return None
    return Finding(
        "kl_blowup", _step(metrics),
        f"KL to the reference policy {now:.3g} over the last {cfg.window} steps (> "
        f"{cfg.max_kl})",
        "the policy is running away: lower optim.lr, raise algorithm.kl_coef, or lower "
        "train.passes_per_batch")


def reward_hacking(metrics: Metrics, cfg: DoctorConfig) -> Finding | None:
    evals = _values(metrics, cfg.eval_metric)
    if len(evals) < 3:
        return None
    best_step, best = max(evals[:-1], key=lambda sv: sv[1])
    last_step, last = evals[-1]
    if best - last <= cfg.hack_eval_drop:
        return None
    rewards = {s: v for s, v in _values(metrics, "reward_mean")}
    at_best = _mean_before(rewards, best_step, cfg.window)
    at_last = _mean_before(rewards, last_step, cfg.window)
    if at_best is None or at_last is None or at_last - at_best <= cfg.hack_reward_rise:
        return None
    return Finding(
        "reward_hacking", _step(metrics),
        f"{cfg.eval_metric} fell from {best:.3g} (step {best_step}) to {last:.3g} (step "
        f"{last_step}) while the training reward rose from {at_best:.3g} to {at_last:.3g}",
        "the policy may be exploiting the reward rather than solving the task: read the "
        "samples in the report, tighten the verifier or lower the weight of format/length "
        "parts, add a KL penalty (algorithm.kl_coef), and keep the checkpoint of the best "
        "evaluation")


def _mean_before(values: dict[int, float], step: int, window: int) -> float | None:
    vals = [v for s, v in sorted(values.items()) if s <= step][-window:]
    return sum(vals) / len(vals) if vals else None


Rule = Callable[[Metrics, DoctorConfig], "Finding | None"]
RULES: dict[str, Rule] = {
    "entropy_collapse": entropy_collapse,
    "no_gradient_groups": no_gradient_groups,
    "high_truncation": high_truncation,
    "logp_mismatch": logp_mismatch,
    "reward_failures": reward_failures,
    "skipped_updates": skipped_updates,
    "kl_blowup": kl_blowup,
    "reward_hacking": reward_hacking,
}


def diagnose(metrics: Metrics, cfg: DoctorConfig) -> list[Finding]:
    """Every rule that fires on the run as it stands after its newest record."""
    found = [rule(metrics, cfg) for rule in RULES.values()] if metrics else []
    return [f for f in found if f is not None]


class Doctor:
    """Checks the rules after each step; a rule is reported when it starts firing (not
    again while it keeps firing), and `active` names the rules firing now."""

    def __init__(self, cfg: DoctorConfig, history: Metrics = ()):
        self.cfg = cfg
        self.history: list[dict[str, Any]] = list(history)
        self.active: dict[str, Finding] = {}

    def check(self, record: dict[str, Any]) -> list[Finding]:
        """Add `record`; return the findings that are new at this step."""
        self.history.append(record)
        now = {f.rule: f for f in diagnose(self.history, self.cfg)}
        new = [f for rule, f in now.items() if rule not in self.active]
        self.active = now
        return new


def scan(metrics: Metrics, cfg: DoctorConfig) -> list[Finding]:
    """Replay a finished run through the doctor: what it reported during the run."""
    doctor = Doctor(cfg)
    found: list[Finding] = []
    for record in metrics:
        found.extend(doctor.check(record))
    return found


RULE_METRICS: dict[str, tuple[str, ...]] = {
    "entropy_collapse": ("entropy",),
    "no_gradient_groups": ("groups_nonzero_adv",),
    "high_truncation": ("truncated_frac",),
    "logp_mismatch": ("logp_mismatch", "mismatch_kl"),
    "reward_failures": ("reward_failures/",),
    "skipped_updates": ("skipped_updates",),
    "kl_blowup": ("kl",),
    "reward_hacking": ("reward_mean", "eval/"),
}
"""The metrics each rule reads (a trailing '/' means every key under that prefix); the
report marks a finding's step on their plots."""


def flags_metric(rule: str, key: str) -> bool:
    return any(key.startswith(m) if m.endswith("/") else key == m
               for m in RULE_METRICS.get(rule, ()))
