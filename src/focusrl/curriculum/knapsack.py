"""Knapsack RL budgets (arXiv 2509.25849): samples per prompt from a fixed total.

Each prompt i is a knapsack item with an estimated success rate p_i from its recent
rollouts. Giving it N samples is worth

    value(N, p) = (1 - p^N - (1 - p)^N) * p (1 - p)^2

(the chance its group has a non-zero gradient, times the information gain p(1-p)^2).
Rules (PAPERS.md): an unseen prompt gets the default n; a prompt with p = 0 or p = 1 gets
a small fixed n (2); every other prompt gets a minimum (2), and a dynamic programme
spends the rest of the budget to maximise the summed value, at most 128 per prompt.

Where we may depart: the paper's own code is not in PAPERS.md; we maximise exactly over
integer allocations with a grouped-knapsack DP (ties go to the earlier prompt), and a
budget too small for the fixed parts is an error instead of being silently exceeded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from focusrl.curriculum.base import UniformSampler
from focusrl.types import Prompt, Sample


def knapsack_value(n: int, p: float) -> float:
    """value(N, p) = (1 - p^N - (1-p)^N) * p * (1-p)^2."""
    return (1.0 - p**n - (1.0 - p) ** n) * p * (1.0 - p) ** 2


def _dp_allocate(rates: Sequence[float], budget: int, min_n: int, max_n: int) -> list[int]:
    """Max sum of value(N_i, p_i) with min_n <= N_i <= max_n and sum N_i <= budget.

    dp[b] = best value of the prompts so far using b extra samples (above min_n each);
    O(items * extra_max) vectorised numpy passes over a (budget + 1) array."""
    extra_max = max_n - min_n
    dp = np.zeros(budget + 1)
    choices = np.zeros((len(rates), budget + 1), dtype=np.int64)
    for i, p in enumerate(rates):
        gains = np.array([knapsack_value(min_n + e, p) for e in range(extra_max + 1)])
        best = np.full(budget + 1, -np.inf)
        arg = np.zeros(budget + 1, dtype=np.int64)
        for e in range(min(extra_max, budget) + 1):
            cand = np.full(budget + 1, -np.inf)
            cand[e:] = dp[: budget + 1 - e] + gains[e]
            better = cand > best + 1e-15  # strict: ties keep the smaller extra
            best = np.where(better, cand, best)
            arg = np.where(better, e, arg)
        dp, choices[i] = best, arg
    # backtrack from the best total (smallest budget reaching it)
    b = int(np.argmax(dp))
    out = [0] * len(rates)
    for i in range(len(rates) - 1, -1, -1):
        e = int(choices[i, b])
        out[i] = min_n + e
        b -= e
    return out


def allocate_budget(
    success_rates: Sequence[float | None],
    total_budget: int,
    default_samples: int = 8,
    extreme_samples: int = 2,
    min_samples: int = 2,
    max_samples: int = 128,
) -> list[int]:
    """Samples per prompt, summing to at most `total_budget`.

    `success_rates[i]` is None for a prompt never rolled out (it gets `default_samples`);
    a rate of exactly 0 or 1 gets `extreme_samples`; the rest get `min_samples` plus
    what the DP gives them. Raises ValueError when the fixed parts exceed the budget."""
    alloc = [0] * len(success_rates)
    dp_items: list[int] = []
    for i, p in enumerate(success_rates):
        if p is None:
            alloc[i] = default_samples
        elif p <= 0.0 or p >= 1.0:
            alloc[i] = extreme_samples
        else:
            dp_items.append(i)
    fixed = sum(alloc) + min_samples * len(dp_items)
    if fixed > total_budget:
        raise ValueError(f"knapsack budget {total_budget} < {fixed} samples needed by the "
                         "fixed rules (unseen, p in {0, 1}, minimum per prompt).")
    if dp_items:
        rates = [float(success_rates[i]) for i in dp_items]  # type: ignore[arg-type]
        extra = _dp_allocate(rates, total_budget - fixed, min_samples, max_samples)
        for i, n in zip(dp_items, extra):
            alloc[i] = n
    return alloc


class KnapsackSampler:
    """Shuffled passes over the prompts (as UniformSampler); each call's budget of
    num_prompts * samples_per_prompt is split by `allocate_budget` over the chosen
    prompts' recent success rates, which `observe` tracks (success: reward >= threshold)."""

    def __init__(
        self,
        prompts: Sequence[Prompt],
        samples_per_prompt: int,
        seed: int,
        default_samples: int = 0,
        extreme_samples: int = 2,
        min_samples: int = 2,
        max_samples: int = 128,
        history_samples: int = 32,
        success_reward: float = 1.0,
    ):
        self.order = UniformSampler(prompts, samples_per_prompt, seed)
        self.samples_per_prompt = samples_per_prompt
        self.default_samples = default_samples or samples_per_prompt
        self.extreme_samples = extreme_samples
        self.min_samples = min_samples
        self.max_samples = max_samples
        self.history_samples = history_samples
        self.success_reward = success_reward
        self.history: dict[str, deque[int]] = {}
        """prompt id -> the last `history_samples` outcomes (1 success, 0 failure)."""

    def success_rate(self, prompt_id: str) -> float | None:
        h = self.history.get(prompt_id)
        return sum(h) / len(h) if h else None

    def next_prompts(self, num_prompts: int) -> list[tuple[Prompt, int]]:
        chosen = [p for p, _ in self.order.next_prompts(num_prompts)]
        budget = num_prompts * self.samples_per_prompt
        counts = allocate_budget(
            [self.success_rate(p.id) for p in chosen], budget, self.default_samples,
            self.extreme_samples, self.min_samples, self.max_samples)
        return list(zip(chosen, counts))

    def observe(self, samples: Sequence[Sample]) -> None:
        for s in samples:
            h = self.history.setdefault(s.prompt_id, deque(maxlen=self.history_samples))
            h.append(int(s.reward >= self.success_reward))

    def state_dict(self) -> dict[str, Any]:
        return {"order": self.order.state_dict(),
                "history": {k: list(v) for k, v in self.history.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order.load_state_dict(state["order"])
        self.history = {k: deque(v, maxlen=self.history_samples)
                        for k, v in state["history"].items()}
