"""Clarifying questions, after LaMAI (Language Model with Active Inquiry; seed 000): the
agent learns when to ask the user instead of guessing.

A task asks for a value `x` (a `digits`-digit number). On tasks that need a question the
prompt does not state `x`; a simulated user holds it. On the others the prompt states it.
Model turns: `ask ...` (the user replies `x=<value>`; the step's reward is `-ask_cost`) or
`answer <value>` (ends the episode; reward 1 if right). Return = correctness - cost of
asking, so the best policy asks exactly when the fact is missing.

Departures from LaMAI: the paper's user is an LLM answering free-form questions about
real tasks and its reward comes from an LLM judge; here the user is a rule (any `ask`
gets the missing fact) and correctness is exact match, so the ask decision is the only
thing learned and its rate can be measured exactly (info `asked`, `needs_question`).
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from focusrl.envs.base import Environment, StepResult
from focusrl.envs.tools import parse_action
from focusrl.types import Prompt


class ClarifyEnv(Environment):
    name: ClassVar[str] = "clarify"

    def __init__(self, ask_cost: float = 0.2, digits: int = 2, need_fraction: float = 0.5):
        # digits and need_fraction shape the tasks (make_tasks); env.args go to both
        self.ask_cost = ask_cost
        """Reward (negative) for asking the user."""
        self.value = ""
        self.needs_question = False
        self.asked = False

    @classmethod
    def make_tasks(cls, n: int, rng: random.Random, digits: int = 2,
                   need_fraction: float = 0.5, **_: Any) -> list[Prompt]:
        out = []
        for i in range(n):
            value = str(rng.randint(10 ** (digits - 1), 10**digits - 1))
            need = rng.random() < need_fraction
            text = "say x\n" if need else f"x={value}. say x\n"
            out.append(Prompt(f"clarify-{i}", text, value, {"needs_question": need}))
        return out

    def reset(self, task: Prompt) -> str:
        self.value = str(task.answer)
        self.needs_question = bool(task.meta.get("needs_question", True))
        self.asked = False
        return task.text

    def step(self, action: str) -> StepResult:
        verb, arg = parse_action(action)
        info = {"needs_question": self.needs_question, "asked": self.asked}
        if verb == "ask":
            self.asked = True
            info["asked"] = True
            return StepResult(f"x={self.value}\n", -self.ask_cost, False, info)
        if verb == "answer":
            correct = arg == self.value
            return StepResult("", float(correct), True, {**info, "correct": correct})
        return StepResult("say 'ask' or 'answer ...'\n", 0.0, False, info)
