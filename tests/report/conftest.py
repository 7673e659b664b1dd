"""Synthetic metrics of a healthy run, for the doctor and the report."""

from __future__ import annotations

import pytest


def healthy_metrics(steps: int = 40, eval_every: int = 10) -> list[dict]:
    """A run that learns: reward and held-out accuracy rise, entropy falls gently, most groups
    informative, few truncations, small mismatch and KL, no failures or skips."""
    out = []
    for s in range(1, steps + 1):
        f = s / steps
        r = {"step": s, "reward_mean": 0.3 + 0.4 * f, "reward/numeric": 0.3 + 0.4 * f,
             "accuracy": 0.3 + 0.4 * f, "entropy": 1.2 - 0.4 * f, "kl": 0.01 + 0.09 * f,
             "groups_nonzero_adv": 0.8, "truncated_frac": 0.05, "logp_mismatch": 1e-3,
             "skipped_updates": 0.0, "samples_generated": 64.0, "num_samples": 64.0,
             "tokens": 300.0, "response_length": 4.7, "clip_frac": 0.02, "grad_norm": 0.5,
             "lr": 1e-4, "time_rollout": 0.1, "time_update": 0.2, "time_reward": 0.01,
             "time_step": 0.31}
        if s % eval_every == 0:
            r["eval/accuracy"] = 0.25 + 0.4 * f
        out.append(r)
    return out


@pytest.fixture
def healthy():
    return healthy_metrics()


@pytest.fixture
def make_healthy():
    return healthy_metrics
