"""A game with feedback over several turns: guess a secret number with higher/lower hints.

Model turns: `guess <n>`. The environment answers `higher\\n` or `lower\\n` (reward
`-step_cost`), or ends the episode with reward 1 when the guess is right. Binary search
needs ceil(log2(high)) turns, so env.max_turns bounds how well a policy can do and
the hints are the only way to do better than chance.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from focusrl.envs.base import Environment, StepResult
from focusrl.envs.tools import parse_action
from focusrl.types import Prompt


class GuessNumberEnv(Environment):
    name: ClassVar[str] = "guess_number"

    def __init__(self, high: int = 16, step_cost: float = 0.0):
        self.high = high
        """Secrets are drawn from 1..high."""
        self.step_cost = step_cost
        """Reward (negative) of each wrong guess."""
        self.secret = 0

    @classmethod
    def make_tasks(cls, n: int, rng: random.Random, high: int = 16, **_: Any) -> list[Prompt]:
        return [Prompt(f"guess-{i}", f"guess 1..{high}\n", rng.randint(1, high))
                for i in range(n)]

    def reset(self, task: Prompt) -> str:
        self.secret = int(task.answer)
        return task.text

    def step(self, action: str) -> StepResult:
        verb, arg = parse_action(action)
        if verb != "guess" or not arg.lstrip("-").isdigit():
            return StepResult("say 'guess <number>'\n", -self.step_cost, False, {})
        guess = int(arg)
        if guess == self.secret:
            return StepResult("", 1.0, True, {"correct": True})
        hint = "higher\n" if guess < self.secret else "lower\n"
        return StepResult(hint, -self.step_cost, False, {"correct": False})
