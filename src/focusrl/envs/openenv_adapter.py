"""Adapter: an OpenEnv environment (Meta's `openenv-core`, on PyPI) as a focusrl text
environment, run in-process (the environment class itself, no HTTP server or container).

    env:
      name: openenv
      args:
        env: my_package.server.my_env:MyEnvironment   # an openenv Environment subclass
        env_args: {}                                   # its constructor arguments
        action_field: message                          # the Action's text field
        observation_field: echoed_message              # the Observation's text field

The model's turn text fills `action_field` of the environment's Action class (from
`action`, or the type hint of its `step`); `observation_field` of each Observation is
shown to the model; `reward` (None = 0) and `done` pass through; `metadata` becomes
`info` (so `metadata['correct']` feeds the accuracy metric). Tasks are seeds: task i
resets the environment with `seed=task.meta['seed']`, so OpenEnv environments that draw
their puzzle from the seed get disjoint train and held-out sets.

Needs the extra: pip install 'focusrl[openenv]'.
"""

from __future__ import annotations

import importlib
import random
import typing
from typing import Any, ClassVar

from focusrl.configtools import ConfigError
from focusrl.envs.base import EnvError, Environment, StepResult
from focusrl.types import Prompt

try:
    from openenv.core.env_server.interfaces import Environment as OpenEnvEnvironment
    from openenv.core.env_server.types import Action, Observation
except ImportError as e:  # the extra is missing: a clear error when the adapter is chosen
    raise ConfigError(f"env.name=openenv needs OpenEnv ({type(e).__name__}: {e}); install "
                      "the extra: pip install 'focusrl[openenv]'.") from e


def _load(ref: Any, what: str) -> Any:
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    if not attr:
        raise ConfigError(f"env.args.{what}={ref!r}: give it as 'package.module:ClassName'.")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"env.args.{what}={ref!r} cannot be imported: {e}") from e


class OpenEnvAdapter(Environment):
    name: ClassVar[str] = "openenv"

    def __init__(self, env: Any = "", env_args: dict[str, Any] | None = None,
                 action: Any = None, action_field: str = "message",
                 observation_field: str = "message"):
        cls = _load(env, "env")
        if not (isinstance(cls, type) and issubclass(cls, OpenEnvEnvironment)):
            raise ConfigError(f"env.args.env={env!r} is not an OpenEnv Environment subclass "
                              "(openenv.core.env_server.interfaces.Environment).")
        self.inner = cls(**(env_args or {}))
        self.action_cls = _load(action, "action") if action else self._action_type(cls)
        if action_field not in self.action_cls.model_fields:
            fields = ", ".join(self.action_cls.model_fields)
            raise ConfigError(f"env.args.action_field={action_field!r} is not a field of "
                              f"{self.action_cls.__name__} ({fields}).")
        self.action_field = action_field
        self.observation_field = observation_field

    @staticmethod
    def _action_type(cls: type) -> type:
        hint = typing.get_type_hints(cls.step).get("action")
        if not (isinstance(hint, type) and issubclass(hint, Action)):
            raise ConfigError(f"{cls.__name__}.step has no Action type hint; give "
                              "env.args.action as 'package.module:ActionClass'.")
        return hint

    @classmethod
    def make_tasks(cls, n: int, rng: random.Random, **_: Any) -> list[Prompt]:
        return [Prompt(f"openenv-{i}", "", None, {"seed": rng.randrange(2**31)})
                for i in range(n)]

    def reset(self, task: Prompt) -> str:
        return self._text(self.inner.reset(seed=task.meta.get("seed")), "reset")

    def step(self, action: str) -> StepResult:
        obs = self.inner.step(self.action_cls(**{self.action_field: action}))
        text = self._text(obs, "step")
        return StepResult(text, float(obs.reward or 0.0), bool(obs.done), dict(obs.metadata))

    def _text(self, obs: Any, where: str) -> str:
        if not isinstance(obs, Observation):
            raise EnvError(f"environment 'openenv' ({type(self.inner).__name__}): {where} "
                           f"returned {type(obs).__name__}, not an OpenEnv Observation.")
        text = getattr(obs, self.observation_field, None)
        if not isinstance(text, str):
            raise EnvError(f"environment 'openenv' ({type(self.inner).__name__}): {where}'s "
                           f"observation field {self.observation_field!r} is "
                           f"{type(text).__name__}, not str; set env.args.observation_field "
                           f"to one of {', '.join(type(obs).model_fields)}.")
        return text
