"""DAPO filters: equal-reward groups, overlong samples, the dynamic-sampling refill."""

import pytest
import torch

from focusrl.algorithms.filtering import (
    collect_informative_groups,
    drop_equal_reward_groups,
    equal_reward_groups,
    overlong_filter_mask,
)
from focusrl.types import Sample


def test_equal_reward_groups_table():
    rewards = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.5, 0.5, 0.5, 2.0])
    groups = torch.tensor([4, 4, 9, 9, 2, 2, 2, 5])  # ragged, with a singleton
    want = [True, True, False, False, True, True, True, True]
    assert equal_reward_groups(rewards, groups).tolist() == want


def test_equal_reward_groups_tolerance():
    rewards = torch.tensor([1.0, 1.0 + 1e-9, 0.0, 0.1], dtype=torch.double)
    groups = torch.tensor([0, 0, 1, 1])
    assert equal_reward_groups(rewards, groups).tolist() == [False, False, False, False]
    assert equal_reward_groups(rewards, groups, atol=1e-6).tolist() == [True, True, False, False]


def test_overlong_filter_mask():
    finished = torch.tensor([True, False, True])
    assert overlong_filter_mask(finished).tolist() == [False, True, False]
    lengths = torch.tensor([8, 3, 4])
    assert overlong_filter_mask(finished, lengths, max_length=8).tolist() == [True, True, False]


def _sample(group, reward):
    return Sample(prompt_id=str(group), group_id=group, prompt_ids=[], response_ids=[],
                  logprobs=[], reward=reward)


def _fake_generator(plan):
    """Round r returns groups whose rewards are plan[r] (a list of per-group reward lists)."""
    state = {"round": 0, "next_id": 0, "asked": []}

    def generate(n):
        state["asked"].append(n)
        out = []
        for rewards in plan[state["round"]][:n]:
            out += [_sample(state["next_id"], r) for r in rewards]
            state["next_id"] += 1
        state["round"] += 1
        return out

    return generate, state


def test_drop_equal_reward_groups_keeps_order():
    samples = [_sample(0, 1.0), _sample(1, 0.0), _sample(0, 0.0), _sample(1, 0.0)]
    assert [(s.group_id, s.reward) for s in drop_equal_reward_groups(samples)] == [
        (0, 1.0), (0, 0.0)]


def test_dynamic_sampling_refills_the_shortfall_and_drops_surplus():
    mixed, flat = [0.0, 1.0], [1.0, 1.0]
    gen, state = _fake_generator([[mixed, flat, flat], [mixed, mixed, mixed]])
    res = collect_informative_groups(gen, groups_wanted=3, max_rounds=5)
    assert state["asked"] == [3, 2]  # second round asks for the 2 missing groups
    assert res.rounds == 2 and res.groups_kept == 3 and res.filled
    assert res.groups_generated == 5
    assert sorted({s.group_id for s in res.samples}) == [0, 3, 4]


def test_dynamic_sampling_stops_after_max_rounds():
    flat = [1.0, 1.0]
    gen, _ = _fake_generator([[flat, [0.0, 1.0]], [flat], [flat]])
    res = collect_informative_groups(gen, groups_wanted=2, max_rounds=2)
    assert res.rounds == 2 and res.groups_kept == 1 and not res.filled


@pytest.mark.parametrize("wanted", [1, 2])
def test_dynamic_sampling_batch_is_exact(wanted):
    mixed = [0.0, 1.0, 1.0]
    gen, _ = _fake_generator([[mixed, mixed, mixed]])
    res = collect_informative_groups(gen, groups_wanted=wanted, max_rounds=1)
    assert res.groups_kept == wanted and len(res.samples) == 3 * wanted
