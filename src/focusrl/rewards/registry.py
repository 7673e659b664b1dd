"""Name -> rewarder constructor. `build_rewards(cfg)` makes the pipeline of a run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from focusrl.configtools import ConfigError, _suggest
from focusrl.rewards.base import Rewarder, RewardPipeline
from focusrl.rewards.basic import ExactMatchReward, FormatReward, NumericReward
from focusrl.rewards.config import RewardConfig

REWARDERS: dict[str, Callable[..., Rewarder]] = {
    "exact_match": ExactMatchReward,
    "numeric": NumericReward,
    "format": FormatReward,
}


def register(name: str) -> Callable[[Callable[..., Rewarder]], Callable[..., Rewarder]]:
    """Decorator: make a rewarder class or factory selectable as `kind: name`."""

    def deco(fn: Callable[..., Rewarder]) -> Callable[..., Rewarder]:
        REWARDERS[name] = fn
        return fn

    return deco


def build_rewards(cfg: RewardConfig, context: dict[str, Any] | None = None) -> RewardPipeline:
    """Build every part. `context` offers shared objects (e.g. the policy) to judges that
    ask for them by a constructor argument of the same name."""
    import inspect

    context = context or {}
    rewarders = {}
    for part in cfg.parts:
        if part.kind not in REWARDERS:
            raise ConfigError(f"rewards.parts: unknown kind '{part.kind}'."
                              f"{_suggest(part.kind, list(REWARDERS))}")
        factory = REWARDERS[part.kind]
        kwargs = dict(part.args)
        try:
            params = inspect.signature(factory).parameters
        except (TypeError, ValueError):
            params = {}
        for name, obj in context.items():
            if name in params and name not in kwargs:
                kwargs[name] = obj
        try:
            rewarders[part.label] = factory(**kwargs)
        except TypeError as e:
            raise ConfigError(f"rewards.parts '{part.label}' ({part.kind}): bad args "
                              f"{part.args}: {e}") from None
    return RewardPipeline(cfg, rewarders)
