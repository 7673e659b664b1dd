"""Turn-level credit: hand-computed returns-to-go and advantages; (B, T) batching."""

import pytest
import torch

from focusrl.envs.credit import assign_turn_advantages, returns_to_go
from focusrl.trainer.batching import build_batch
from focusrl.types import Sample


def test_returns_to_go_hand_computed():
    assert returns_to_go([0.0, 0.0, 1.0], 0.5) == [0.25, 0.5, 1.0]
    assert returns_to_go([-0.2, 1.0], 1.0) == pytest.approx([0.8, 1.0])
    assert returns_to_go([], 0.9) == []


def _episode(group, rewards, spans, length):
    return Sample("p", group, [1], [5] * length, [0.0] * length,
                  meta={"env_turn_rewards": rewards, "env_turn_spans": spans})


def test_turn_advantages_hand_computed_table():
    # group 0: episode A asks (-0.2) then answers right (+1); B answers wrong at once (0)
    a = _episode(0, [-0.2, 1.0], [(0, 2), (4, 6)], 6)
    b = _episode(0, [0.0], [(0, 3)], 3)
    assign_turn_advantages([a, b], discount=1.0, normalize_std=False)
    # G0: A 0.8, B 0.0 -> mean 0.4; A's turns: G = 0.8, 1.0 -> 0.4, 0.6; B: -0.4
    assert a.token_advantages == pytest.approx([0.4, 0.4, 0, 0, 0.6, 0.6])
    assert b.token_advantages == pytest.approx([-0.4, -0.4, -0.4])
    assign_turn_advantages([a, b], discount=1.0, normalize_std=True, eps=0.0)
    std = (2 * 0.4**2) ** 0.5  # unbiased std of (0.8, 0.0)
    assert a.token_advantages[4] == pytest.approx(0.6 / std)


def test_undiscounted_terminal_reward_equals_the_outcome_advantage():
    eps = [_episode(3, [0.0, r], [(0, 2), (3, 5)], 5) for r in (1.0, 0.0, 0.0, 1.0)]
    assign_turn_advantages(eps, discount=1.0, normalize_std=True, eps=1e-6)
    outcome = torch.tensor([1.0, 0.0, 0.0, 1.0])
    outcome = (outcome - outcome.mean()) / (outcome.std() + 1e-6)
    for s, adv in zip(eps, outcome.tolist()):
        assert s.token_advantages == pytest.approx([adv, adv, 0.0, adv, adv], abs=1e-5)


def test_groups_are_normalised_separately_and_by_group_id():
    eps = [_episode(1, [1.0], [(0, 1)], 1), _episode(2, [5.0], [(0, 1)], 1),
           _episode(1, [0.0], [(0, 1)], 1), _episode(2, [5.0], [(0, 1)], 1)]
    assign_turn_advantages(eps, discount=1.0, normalize_std=False)
    assert [s.token_advantages[0] for s in eps] == pytest.approx([0.5, 0.0, -0.5, 0.0])


def test_batch_carries_token_advantages_as_b_by_t():
    a = _episode(0, [1.0], [(0, 3)], 3)
    a.token_advantages = [1.0, 2.0, 3.0]
    b = _episode(0, [1.0], [(0, 2)], 2)
    b.advantage = -0.5
    batch = build_batch([a, b], 0, torch.device("cpu"))
    assert batch.advantages.tolist() == [[1.0, 2.0, 3.0], [-0.5, -0.5, -0.5]]
    a.token_advantages = [1.0]
    with pytest.raises(ValueError, match="token_advantages has 1 entries for 3"):
        build_batch([a, b], 0, torch.device("cpu"))


def test_credit_needs_episodes():
    with pytest.raises(ValueError, match="env.credit=turn needs env.name"):
        assign_turn_advantages([Sample("p", 0, [1], [2], [0.0])], 1.0)
