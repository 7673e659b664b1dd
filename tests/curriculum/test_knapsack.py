"""Knapsack budgets: the value, the DP against brute force, the fixed rules, the sampler."""

from __future__ import annotations

import itertools

import pytest

from focusrl.curriculum.knapsack import KnapsackSampler, allocate_budget, knapsack_value
from focusrl.types import Prompt, Sample


def test_value_matches_hand_computed_numbers():
    # (1 - p^N - (1-p)^N) * p * (1-p)^2
    assert knapsack_value(2, 0.5) == pytest.approx((1 - 0.25 - 0.25) * 0.5 * 0.25)  # 0.0625
    assert knapsack_value(4, 0.25) == pytest.approx((174 / 256) * 0.25 * 0.5625)
    assert knapsack_value(1, 0.3) == 0.0  # one sample never has a non-zero gradient
    assert knapsack_value(8, 0.0) == 0.0 and knapsack_value(8, 1.0) == 0.0


def _brute_force(rates, budget, lo, hi):
    best = -1.0
    for alloc in itertools.product(range(lo, hi + 1), repeat=len(rates)):
        if sum(alloc) <= budget:
            best = max(best, sum(knapsack_value(n, p) for n, p in zip(alloc, rates)))
    return best


@pytest.mark.parametrize("rates,budget,hi", [
    ([0.5, 0.2, 0.8], 12, 6),
    ([0.1, 0.1, 0.6, 0.35], 14, 5),
    ([0.05, 0.95], 9, 7),
    ([0.3, 0.7, 0.5], 7, 4),
])
def test_dp_is_optimal_against_brute_force(rates, budget, hi):
    alloc = allocate_budget(rates, budget, min_samples=2, max_samples=hi)
    assert sum(alloc) <= budget and all(2 <= n <= hi for n in alloc)
    got = sum(knapsack_value(n, p) for n, p in zip(alloc, rates))
    assert got == pytest.approx(_brute_force(rates, budget, 2, hi))


def test_unseen_and_extreme_prompts_follow_the_fixed_rules():
    alloc = allocate_budget([None, 0.0, 1.0, 0.5], 20, default_samples=8, extreme_samples=2,
                            min_samples=2, max_samples=128)
    assert alloc[:3] == [8, 2, 2]
    assert alloc[3] == 20 - 12  # the DP prompt takes the rest (value grows with N)


def test_budget_is_respected_and_caps_bind():
    alloc = allocate_budget([0.5, 0.5], 1000, min_samples=2, max_samples=16)
    assert alloc == [16, 16]
    alloc = allocate_budget([0.2, 0.4, 0.6, 0.9, None], 64, default_samples=8)
    assert sum(alloc) == 64


def test_too_small_a_budget_is_an_error():
    with pytest.raises(ValueError, match="budget 5 < 6"):
        allocate_budget([None, 0.5], 5, default_samples=4, min_samples=2)


def _samples(prompt_id: str, rewards: list[float]) -> list[Sample]:
    return [Sample(prompt_id=prompt_id, group_id=0, prompt_ids=[], response_ids=[],
                   logprobs=[], reward=r) for r in rewards]


def test_sampler_tracks_recent_success_and_round_trips():
    prompts = [Prompt(id=f"p{i}", text=str(i)) for i in range(4)]
    sampler = KnapsackSampler(prompts, samples_per_prompt=4, seed=0, history_samples=4)
    first = sampler.next_prompts(4)
    assert [n for _, n in first] == [4, 4, 4, 4]  # all unseen -> default = samples_per_prompt
    sampler.observe(_samples("p0", [1, 1, 1, 1]) + _samples("p1", [0, 1, 0, 0, 1, 1]))
    assert sampler.success_rate("p0") == 1.0
    assert sampler.success_rate("p1") == 0.5  # last 4 of 0,1,0,0,1,1
    assert sampler.success_rate("p2") is None
    state = sampler.state_dict()
    twin = KnapsackSampler(prompts, samples_per_prompt=4, seed=0, history_samples=4)
    twin.load_state_dict(state)
    assert twin.state_dict() == state
    a, b = sampler.next_prompts(4), twin.next_prompts(4)
    assert [(p.id, n) for p, n in a] == [(p.id, n) for p, n in b]
    assert sum(n for _, n in a) == 16
    assert dict((p.id, n) for p, n in a)["p0"] == 2
