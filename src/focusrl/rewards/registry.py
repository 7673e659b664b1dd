"""Name -> rewarder constructor. `build_rewards(cfg)` makes the pipeline of a run.

Heavy rewarders (math-verify, the sandbox, judges) are imported when first built, so
importing the registry stays cheap and optional dependencies stay optional.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from focusrl.configtools import ConfigError, _suggest
from focusrl.rewards.base import Rewarder, RewardPipeline
from focusrl.rewards.basic import (
    CountdownReward,
    ExactMatchReward,
    FormatReward,
    MultipleChoiceReward,
    NumericReward,
)
from focusrl.rewards.config import RewardConfig
from focusrl.rewards.shaping import LaserDReward, LaserReward, OverlongReward


def _import(module: str, name: str) -> Callable[..., Rewarder]:
    """The rewarder class `<module>.<name>`, imported now."""
    return getattr(importlib.import_module(module), name)


REWARDERS: dict[str, Callable[..., Rewarder]] = {
    "exact_match": ExactMatchReward,
    "numeric": NumericReward,
    "countdown": CountdownReward,
    "format": FormatReward,
    "multiple_choice": MultipleChoiceReward,
    "overlong": OverlongReward,
    "laser": LaserReward,
    "laser_d": LaserDReward,
}
_LAZY: dict[str, tuple[str, str]] = {
    "math_verify": ("focusrl.rewards.math_answer", "MathVerifyReward"),
    "code": ("focusrl.rewards.code_exec", "CodeReward"),
    "self_eval": ("focusrl.rewards.judges", "SelfEvalReward"),
    "judge": ("focusrl.rewards.judges", "GenerativeJudgeReward"),
    "reward_model": ("focusrl.rewards.judges", "RewardModelReward"),
    "sat": ("focusrl.data.sat", "SATReward"),  # SATURN: lives with its task generator
}


def register(name: str) -> Callable[[Callable[..., Rewarder]], Callable[..., Rewarder]]:
    """Decorator: make a rewarder class or factory selectable as `kind: name`."""

    def deco(fn: Callable[..., Rewarder]) -> Callable[..., Rewarder]:
        REWARDERS[name] = fn
        return fn

    return deco


def known_kinds() -> list[str]:
    return sorted({*REWARDERS, *_LAZY})


def factory_of(kind: str) -> Callable[..., Rewarder]:
    if kind in REWARDERS:
        return REWARDERS[kind]
    if kind in _LAZY:
        return _import(*_LAZY[kind])
    raise ConfigError(f"rewards.parts: unknown kind '{kind}'.{_suggest(kind, known_kinds())}")


def build_rewards(cfg: RewardConfig, context: dict[str, Any] | None = None) -> RewardPipeline:
    """Build every part. `context` offers shared objects (e.g. the policy) to judges that
    ask for them by a constructor argument of the same name."""
    context = context or {}
    cfg.validate()
    rewarders = {}
    for part in cfg.parts:
        factory = factory_of(part.kind)
        kwargs = dict(part.args)
        try:
            params = inspect.signature(factory).parameters
        except (TypeError, ValueError):
            params = {}
        unknown = [k for k in kwargs if params and k not in params
                   and not any(p.kind == p.VAR_KEYWORD for p in params.values())]
        if unknown:
            valid = [k for k in params if k not in context and k not in ("self", "kwargs")]
            raise ConfigError(f"rewards.parts '{part.label}' ({part.kind}): unknown args "
                              f"{unknown}.{_suggest(unknown[0], valid)}")
        for name, obj in context.items():
            if name in params and name not in kwargs:
                kwargs[name] = obj
        try:
            rewarders[part.label] = factory(**kwargs)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"rewards.parts '{part.label}' ({part.kind}): bad args "
                              f"{part.args}: {e}") from None
    return RewardPipeline(cfg, rewarders)
