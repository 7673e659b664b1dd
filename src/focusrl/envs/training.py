"""What `train()` needs to run in an environment: its tasks, an episode runner, checks of the
reward parts, and greedy evaluation by episodes. Called from a line each in the trainer."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from focusrl.configtools import ConfigError
from focusrl.data.readers import TaskData
from focusrl.envs.registry import env_class
from focusrl.rewards.base import RewardPipeline
from focusrl.rollout.base import RolloutEngine
from focusrl.rollout.episodes import EpisodeRunner
from focusrl.types import GenerationRequest, Prompt, SamplingParams

ENV_REWARD_KINDS = ("env_return", "env_correct")


def env_task_data(cfg: Any) -> TaskData:
    """Train and held-out tasks from the environment's generator (data.num_train,
    data.num_eval, data.seed), disjoint by construction (one stream, split)."""
    cls = env_class(cfg.env.name)
    rng = random.Random(cfg.data.seed)
    tasks = cls.make_tasks(cfg.data.num_train + cfg.data.num_eval, rng, **cfg.env.args)
    return TaskData(tasks[: cfg.data.num_train], tasks[cfg.data.num_train:])


def build_episode_runner(cfg: Any, tokenizer: Any) -> EpisodeRunner:
    """The runner of cfg.env; checks that some reward part scores episodes."""
    kinds = {p.kind for p in cfg.rewards.parts}
    if not kinds & set(ENV_REWARD_KINDS):
        raise ConfigError(
            f"env.name={cfg.env.name}: no reward part reads the episodes' rewards; add "
            "rewards.parts=[{kind: env_return}, {kind: env_correct, weight: 0}] (the "
            "environment's return, and its correctness as the accuracy monitor).")
    cls = env_class(cfg.env.name)
    args = dict(cfg.env.args)

    def make_env() -> Any:
        try:
            return cls(**args)
        except TypeError as e:
            raise ConfigError(f"env.args {args} do not fit environment '{cfg.env.name}': "
                              f"{e}") from e

    make_env()  # bad arguments fail now, not in the first step
    chat = {"auto": None, "always": True, "never": False}[cfg.data.chat_template]
    return EpisodeRunner(make_env, tokenizer, cfg.env, chat=chat)


def evaluate_episodes(runner: EpisodeRunner, engine: RolloutEngine, prompts: Sequence[Prompt],
                      rewards: RewardPipeline, max_new_tokens: int,
                      seed: int = 0) -> dict[str, float]:
    """Greedy episodes on the held-out tasks: `eval/accuracy` (the accuracy part) and
    `eval/env_return`. The runner's counters are left for training's metrics."""
    from focusrl.trainer.evaluate import is_correct

    if not prompts:
        return {}
    saved = runner.take_stats()
    params = SamplingParams(max_new_tokens=max_new_tokens, greedy=True, seed=seed)
    samples = runner.run(engine, [GenerationRequest(p, 1, i) for i, p in enumerate(prompts)],
                         params)
    runner.stats = saved
    rewards.score(samples)
    n = len(samples)
    return {"eval/accuracy": sum(is_correct(s, rewards) for s in samples) / n,
            "eval/env_return": sum(s.meta["env_return"] for s in samples) / n}
