"""Difficulty ladder (SATURN, arXiv 2505.16368): master one rung, then climb.

The prompts are grouped into rungs by `meta['difficulty']` (SAT: D(n, k, l); arithmetic:
total operand digits; countdown: how many numbers), sorted from easy to hard. Training
draws shuffled passes over the current rung only. `observe` turns each group of samples
on the current rung into an unbiased pass@k (success: reward >= `success_reward`); once
the last `window_groups` groups average at least `promote_threshold`, the ladder moves to
the next rung and the window starts empty.

Where we depart from SATURN: SATURN generates fresh instances at each (n, k, l) as it
goes; we climb over a fixed generated pool (data.sat.params lists the rungs, or any
source whose prompts carry a difficulty), so runs are reproducible from the data seed.
The ladder never moves down.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any

from focusrl.curriculum.base import UniformSampler
from focusrl.evaluation.metrics import pass_at_k
from focusrl.types import Prompt, Sample


def group_by_difficulty(prompts: Sequence[Prompt], key: str = "difficulty") -> list[list[Prompt]]:
    """Rungs: prompts sharing meta[key], easiest first (prompts without it: an error)."""
    rungs: dict[Any, list[Prompt]] = defaultdict(list)
    for p in prompts:
        if key not in p.meta:
            raise ValueError(f"ladder curriculum: prompt '{p.id}' has no meta['{key}']; use a "
                             "generated task (arithmetic, countdown, sat) or add the field.")
        rungs[p.meta[key]].append(p)
    return [rungs[d] for d in sorted(rungs)]


class LadderSampler:
    """PromptSampler over difficulty rungs with pass@k promotion."""

    def __init__(
        self,
        prompts: Sequence[Prompt],
        samples_per_prompt: int,
        seed: int,
        window_groups: int = 32,
        pass_k: int = 1,
        promote_threshold: float = 0.75,
        success_reward: float = 1.0,
        start_rung: int = 0,
    ):
        self.rungs = group_by_difficulty(prompts)
        self.samples_per_prompt = samples_per_prompt
        self.seed = seed
        self.window_groups = window_groups
        self.pass_k = pass_k
        self.promote_threshold = promote_threshold
        self.success_reward = success_reward
        self.rung = min(start_rung, len(self.rungs) - 1)
        self.window: deque[float] = deque(maxlen=window_groups)
        self._rung_ids = {p.id for p in self.rungs[self.rung]}
        self._order = self._sampler(self.rung)

    def _sampler(self, rung: int) -> UniformSampler:
        return UniformSampler(self.rungs[rung], self.samples_per_prompt, self.seed + rung)

    @property
    def difficulty(self) -> Any:
        return self.rungs[self.rung][0].meta["difficulty"]

    def next_prompts(self, num_prompts: int) -> list[tuple[Prompt, int]]:
        return self._order.next_prompts(num_prompts)

    def observe(self, samples: Sequence[Sample]) -> None:
        groups: dict[int, list[Sample]] = defaultdict(list)
        for s in samples:
            if s.prompt_id in self._rung_ids:  # samples from an older rung do not count
                groups[s.group_id].append(s)
        for gid in sorted(groups):
            group = groups[gid]
            c = sum(s.reward >= self.success_reward for s in group)
            self.window.append(pass_at_k(len(group), c, min(self.pass_k, len(group))))
        if (len(self.window) == self.window_groups
                and sum(self.window) / self.window_groups >= self.promote_threshold
                and self.rung + 1 < len(self.rungs)):
            self._move_to(self.rung + 1)

    def _move_to(self, rung: int) -> None:
        self.rung = rung
        self.window.clear()
        self._rung_ids = {p.id for p in self.rungs[rung]}
        self._order = self._sampler(rung)

    def state_dict(self) -> dict[str, Any]:
        return {"rung": self.rung, "window": list(self.window), "order": self._order.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._move_to(int(state["rung"]))
        self.window.extend(float(v) for v in state["window"])
        self._order.load_state_dict(state["order"])
