"""Advantage estimators: hand-computed table, and vectorised vs a plain loop on ragged groups."""

import math
import statistics

import pytest
import torch

from focusrl.algorithms.advantages import ADVANTAGES
from focusrl.algorithms.config import AlgorithmConfig

REWARDS = [1.0, 0.0, 1.0, 1.0, 0.0, 0.5]
GROUPS = [7, 7, 3, 3, 3, 9]  # ragged: sizes 2, 3 and a singleton
S2 = math.sqrt(0.5)  # unbiased std of {1, 0}
S3 = math.sqrt(1 / 3)  # unbiased std of {1, 1, 0}
EPS = 1e-4
CENTRED = [0.5, -0.5, 1 / 3, 1 / 3, -2 / 3, 0.0]
BATCH_MEAN = sum(REWARDS) / 6
BATCH_STD = statistics.stdev(REWARDS)
CENTRED_STD = statistics.stdev(CENTRED)

TABLE = {
    "grpo": [0.5 / (S2 + EPS), -0.5 / (S2 + EPS), (1 / 3) / (S3 + EPS), (1 / 3) / (S3 + EPS),
             (-2 / 3) / (S3 + EPS), 0.0],
    "dr_grpo": CENTRED,
    # leave-one-out: r_i - mean of the others; the singleton has no baseline -> 0
    "rloo": [1.0, -1.0, 0.5, 0.5, -1.0, 0.0],
    "reinforce_pp": [(r - BATCH_MEAN) / (BATCH_STD + EPS) for r in REWARDS],
    # group mean subtracted, then batch-normalised (the centred values have mean 0)
    "reinforce_pp_baseline": [c / (CENTRED_STD + EPS) for c in CENTRED],
}


@pytest.mark.parametrize("name", sorted(TABLE))
def test_advantage_table(name):
    adv = ADVANTAGES[name](torch.tensor(REWARDS), torch.tensor(GROUPS), AlgorithmConfig())
    assert adv.tolist() == pytest.approx(TABLE[name], abs=1e-6)


def test_grpo_without_std_normalisation_is_dr_grpo():
    cfg = AlgorithmConfig(std_normalize=False)
    adv = ADVANTAGES["grpo"](torch.tensor(REWARDS), torch.tensor(GROUPS), cfg)
    assert adv.tolist() == pytest.approx(CENTRED, abs=1e-7)


def _loop(name, rewards, groups, eps):
    """Plain-Python reference, one group at a time."""
    out = [0.0] * len(rewards)
    members = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    for idx in members.values():
        rs = [rewards[i] for i in idx]
        mean = sum(rs) / len(rs)
        std = statistics.stdev(rs) if len(rs) > 1 else 0.0
        for i in idx:
            others = [rewards[j] for j in idx if j != i]
            out[i] = {
                "grpo": (rewards[i] - mean) / (std + eps),
                "dr_grpo": rewards[i] - mean,
                "grpo_batch_std": (rewards[i] - mean) / (statistics.stdev(rewards) + eps),
                "rloo": rewards[i] - sum(others) / len(others) if others else 0.0,
                "reinforce_pp": rewards[i],
                "reinforce_pp_baseline": rewards[i] - mean,
            }[name]
    if name.startswith("reinforce_pp"):
        m, s = sum(out) / len(out), statistics.stdev(out)
        out = [(x - m) / (s + eps) for x in out]
    return out


@pytest.mark.parametrize("name", sorted(ADVANTAGES))
def test_vectorised_matches_plain_loop_on_ragged_shuffled_groups(name):
    gen = torch.Generator().manual_seed(0)
    sizes = [1, 2, 5, 3, 8, 4]
    groups = torch.cat([torch.full((n,), 100 + 7 * g) for g, n in enumerate(sizes)])
    groups = groups[torch.randperm(len(groups), generator=gen)]  # interleaved, not contiguous
    rewards = torch.randint(0, 3, (len(groups),), generator=gen).float() / 2
    adv = ADVANTAGES[name](rewards, groups, AlgorithmConfig())
    want = _loop(name, rewards.tolist(), groups.tolist(), 1e-4)
    assert adv.tolist() == pytest.approx(want, abs=1e-5)


def test_batch_normalize_whitens_rloo_over_the_step():
    from focusrl.algorithms.advantages import batch_normalise

    rloo = [1.0, -1.0, 0.5, 0.5, -1.0, 0.0]
    mean, std = statistics.fmean(rloo), statistics.stdev(rloo)
    got = batch_normalise(torch.tensor(rloo, dtype=torch.float64), EPS)
    assert got.tolist() == pytest.approx([(a - mean) / (std + EPS) for a in rloo], abs=1e-12)


def test_gdpo_keeps_the_reward_combinations_grpo_collapses():
    """GDPO's motivating case (arXiv 2601.05242, two binary rewards, two rollouts a group):
    (0,1) vs (0,0) and (1,1) vs (0,0) get the same GRPO advantages from the summed reward;
    GDPO normalises each reward in its group first, so the second pair, better on both
    rewards, gets twice the advantage before the batch normalisation."""
    from focusrl.algorithms.advantages import gdpo_advantages

    parts = torch.tensor([[0.0, 1.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    groups, weights, cfg = torch.tensor([0, 0, 1, 1]), torch.ones(2), AlgorithmConfig()
    grpo = ADVANTAGES["grpo"](parts.sum(1), groups, cfg)
    # equal up to std_eps (1e-4 added to stds 0.71 and 1.41)
    assert grpo[:2].tolist() == pytest.approx(grpo[2:].tolist(), abs=1e-4)
    per_part = 0.5 / (S2 + EPS)  # each binary part, normalised in its group: +-per_part
    summed = [per_part, -per_part, 2 * per_part, -2 * per_part]
    std = statistics.stdev(summed)  # mean is 0
    got = gdpo_advantages(parts, weights, groups, cfg)
    assert got.tolist() == pytest.approx([x / (std + EPS) for x in summed], abs=1e-12)


def test_gdpo_config_needs_weighted_summed_parts():
    from focusrl.config import load_config
    from focusrl.configtools import ConfigError

    with pytest.raises(ConfigError, match="rewards.combine=sum"):
        load_config(overrides=["algorithm.advantage=gdpo", "rewards.combine=gated",
                               "run_dir=x"]).validate()
    with pytest.raises(ConfigError, match="non-zero weight"):
        load_config(overrides=["algorithm.advantage=gdpo", "run_dir=x",
                               "rewards.parts=[{kind: numeric, weight: 0}]"]).validate()
