"""The `env` section: which text environment a multi-turn run trains in, and its limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from focusrl.configtools import ConfigError


@dataclass
class EnvConfig:
    """Multi-turn episodes in a text environment (envs/); empty name = single-turn RL."""

    name: str = ""
    """Registered environment (focusrl.envs.registry.ENVS): calculator, python_tool,
    clarify, guess_number, openenv; empty = single-turn prompts and responses. With a name,
    the environment's own task generator gives the prompts (data.num_train, data.num_eval
    and data.seed size and seed it) and its rewards score the episodes."""
    args: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for the environment's constructor (and its task generator)."""
    max_turns: int = 4
    """Most model turns in one episode; the episode ends (unfinished) after this many."""
    max_total_tokens: int = 128
    """Most response tokens in one episode, model and environment turns together; one model
    turn gets at most min(rollout.max_response_tokens, what is left)."""
    credit: Literal["outcome", "turn"] = "outcome"
    """outcome: the episode's group-normalised return is the advantage of every model token.
    turn: each model turn gets its discounted return-to-go, normalised by the group's
    episode returns (envs/credit.py)."""
    discount: float = 1.0
    """Per-turn discount of credit=turn (1.0 = undiscounted reward-to-go)."""
    step_timeout_s: float = 10.0
    """An environment's reset or step that takes longer ends its episode (counted,
    env_timeouts) with error_reward; 0 = no limit."""
    error_reward: float = 0.0
    """Reward of the step at which the environment raised or timed out."""

    def validate(self) -> None:
        if self.max_turns < 1:
            raise ConfigError(f"env.max_turns must be >= 1, got {self.max_turns}.")
        if self.max_total_tokens < 1:
            raise ConfigError(f"env.max_total_tokens must be >= 1, got {self.max_total_tokens}.")
        if not 0.0 < self.discount <= 1.0:
            raise ConfigError(f"env.discount must be in (0, 1], got {self.discount}.")
        if self.step_timeout_s < 0:
            raise ConfigError(f"env.step_timeout_s must be >= 0, got {self.step_timeout_s}.")
        if self.name:
            from focusrl.envs.registry import env_class

            env_class(self.name)  # unknown names fail at load time, with the choices
