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
