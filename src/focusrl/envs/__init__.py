"""Text environments for multi-turn RL (episodes: rollout/episodes.py).

Importing the package registers the episode reward kinds (env_return, env_correct)."""

from focusrl.envs import rewards as _rewards  # noqa: F401 - registers the reward kinds
from focusrl.envs.base import EnvError, Environment, StepResult
from focusrl.envs.config import EnvConfig
from focusrl.envs.registry import ENVS, env_class

__all__ = ["ENVS", "EnvConfig", "EnvError", "Environment", "StepResult", "env_class"]
