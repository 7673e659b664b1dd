"""A text environment in Gymnasium's spirit: `reset(task) -> observation`,
`step(action_text) -> (observation, reward, done, info)`.

Environments speak text; the episode runner (rollout/episodes.py) owns the tokens. One
environment object serves one episode at a time (the runner makes one per episode), so an
environment may keep its episode's state in attributes. `info` may carry `correct`
(bool: the episode solved its task; the accuracy metric) and anything else the
environment wants logged with the sample.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

from focusrl.types import Prompt


class EnvError(TypeError):
    """An environment broke its contract (e.g. returned the wrong type)."""


@dataclass
class StepResult:
    """What one environment step returns (a 4-tuple in the same order is accepted)."""

    observation: str
    """Text shown to the model next (appended as tokens with loss mask 0); may be empty."""
    reward: float = 0.0
    """Reward of this step; the episode's return is the sum over its steps."""
    done: bool = False
    """The episode ends after this step."""
    info: dict[str, Any] = field(default_factory=dict)
    """Extras: `correct` (bool) feeds the accuracy metric; the rest is kept in sample.meta."""


class Environment:
    """Base class of text environments. Subclasses set `name` and implement `reset` and
    `step`; `make_tasks` generates their prompts (train + held-out) for `train()`. The
    constructor and `make_tasks` both receive every key of env.args, so each accepts
    the other's keys."""

    name: ClassVar[str] = "environment"

    def reset(self, task: Prompt) -> str:
        """Start an episode for `task`; return the first observation (the model's prompt)."""
        raise NotImplementedError

    def step(self, action: str) -> StepResult | tuple[str, float, bool, dict[str, Any]]:
        """Apply the model's turn `action` (decoded text, special tokens removed)."""
        raise NotImplementedError

    @classmethod
    def make_tasks(cls, n: int, rng: random.Random, **args: Any) -> list[Prompt]:
        """`n` task instances; `args` are the env.args (constructor arguments) too."""
        raise NotImplementedError(f"environment '{cls.name}' has no task generator; "
                                  "give it tasks through data.source instead")


def check_observation(env_name: str, where: str, obs: Any) -> str:
    if not isinstance(obs, str):
        raise EnvError(f"environment '{env_name}': {where} returned an observation of type "
                       f"{type(obs).__name__}; it must be a str (the text shown to the model).")
    return obs


def check_step(env_name: str, result: Any) -> StepResult:
    """A StepResult or a 4-tuple -> a checked StepResult; anything else is an EnvError that
    names the environment and the field."""
    if isinstance(result, tuple):
        if len(result) != 4:
            raise EnvError(f"environment '{env_name}': step returned a tuple of {len(result)} "
                           "items; it must be (observation, reward, done, info) or a StepResult.")
        result = StepResult(*result)
    if not isinstance(result, StepResult):
        raise EnvError(f"environment '{env_name}': step returned {type(result).__name__}; it "
                       "must be a StepResult or an (observation, reward, done, info) tuple.")
    check_observation(env_name, "step", result.observation)
    reward = result.reward
    if isinstance(reward, bool) or not isinstance(reward, (int, float)) or not math.isfinite(
            reward):
        raise EnvError(f"environment '{env_name}': step returned reward={reward!r}; it must be "
                       "a finite int or float.")
    if not isinstance(result.done, bool):
        raise EnvError(f"environment '{env_name}': step returned done={result.done!r} "
                       f"({type(result.done).__name__}); it must be a bool.")
    if not isinstance(result.info, dict):
        raise EnvError(f"environment '{env_name}': step returned info of type "
                       f"{type(result.info).__name__}; it must be a dict.")
    return StepResult(result.observation, float(reward), result.done, result.info)
