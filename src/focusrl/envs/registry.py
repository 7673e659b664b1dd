"""`env.name` -> environment class: one plain dict, like every registry here. The OpenEnv
adapter is imported only when chosen (it needs the optional `openenv` extra)."""

from __future__ import annotations

import importlib

from focusrl.configtools import ConfigError, _suggest
from focusrl.envs.base import Environment
from focusrl.envs.clarify import ClarifyEnv
from focusrl.envs.games import GuessNumberEnv
from focusrl.envs.tools import CalculatorEnv, PythonToolEnv, ToolEnv

ENVS: dict[str, type[Environment]] = {
    "calculator": CalculatorEnv,
    "python_tool": PythonToolEnv,
    "tools": ToolEnv,
    "clarify": ClarifyEnv,
    "guess_number": GuessNumberEnv,
}
_LAZY: dict[str, tuple[str, str]] = {
    "openenv": ("focusrl.envs.openenv_adapter", "OpenEnvAdapter"),
}


def env_class(name: str) -> type[Environment]:
    if name in ENVS:
        return ENVS[name]
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise ConfigError(f"env.name: unknown environment '{name}'."
                      f"{_suggest(name, sorted({*ENVS, *_LAZY}))}")
