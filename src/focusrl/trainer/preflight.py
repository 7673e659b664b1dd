"""Checks at the start of a run that it can learn at all, before any compute is spent.

Each catches a configuration that used to run to the end and report success while
every gradient was zero: one sample per group under a group-relative advantage, a
reward whose parts all have weight 0, a verifier reward on data without answers.
"""

from __future__ import annotations

from collections.abc import Sequence

from focusrl.config import Config
from focusrl.configtools import ConfigError
from focusrl.types import Prompt

GROUP_RELATIVE_ADVANTAGES = ("grpo", "dr_grpo", "grpo_batch_std", "rloo",
                             "reinforce_pp_baseline", "gdpo")
"""Advantages that subtract the group's mean: a group of one sample gets exactly 0."""
ANSWER_REWARDS = ("numeric", "exact_match", "math_verify", "multiple_choice", "countdown")
"""Reward kinds that compare a response with the prompt's ground-truth answer."""


def check_can_learn(cfg: Config) -> None:
    """ConfigError when no step of this config can produce a non-zero gradient."""
    algo, rollout = cfg.algorithm, cfg.rollout
    if rollout.samples_per_prompt == 1 and algo.advantage in GROUP_RELATIVE_ADVANTAGES:
        raise ConfigError(
            f"rollout.samples_per_prompt=1 with algorithm.advantage={algo.advantage}: the "
            "advantage is relative to the group's mean, so a group of one sample always gets "
            "advantage 0 and no gradient. Use rollout.samples_per_prompt >= 2 (GRPO uses "
            "8-16), or algorithm.advantage=reinforce_pp (normalised over the whole batch).")
    if cfg.rewards.combine == "sum" and all(p.weight == 0 for p in cfg.rewards.parts):
        names = [p.label for p in cfg.rewards.parts]
        raise ConfigError(
            f"every reward part has weight 0 ({names}): the reward is constant, so the "
            "advantage and the gradient are 0. Give at least one part a non-zero weight.")


def check_answers(cfg: Config, prompts: Sequence[Prompt], split: str = "training") -> None:
    """ConfigError when a reward part compares with the ground truth but the data have
    no answers (data.fields.answer names a field the rows lack)."""
    kinds = sorted({p.kind for p in cfg.rewards.parts if p.kind in ANSWER_REWARDS})
    if not kinds or not prompts:
        return
    missing = [p for p in prompts if p.answer is None or p.answer == ""]
    if not missing:
        return
    where = f"data.path '{cfg.data.path}'" if cfg.data.path else f"data.source {cfg.data.source}"
    raise ConfigError(
        f"{len(missing)} of {len(prompts)} {split} prompts from {where} have no answer "
        f"(first: '{missing[0].id}'), but reward part(s) {kinds} check responses against the "
        f"answer. Set data.fields.answer to the field that holds it (now "
        f"'{cfg.data.fields.answer}'), or use a reward that needs no answer.")
