"""Build the parts of a run from its config: model, tokenizer, engine, data, rewards, sampler."""

from __future__ import annotations

import copy
import logging
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from focusrl.config import Config
from focusrl.curriculum.base import PromptSampler
from focusrl.curriculum.factory import build_sampler
from focusrl.data.formatting import FormatStats, prepare_prompts
from focusrl.data.sources import TaskData, load_task_data
from focusrl.distributed.data_parallel import build_policy_update
from focusrl.distributed.reward_workers import build_reward_scorer
from focusrl.distributed.workers import EngineWrapper, build_rollout_engine
from focusrl.envs.training import build_episode_runner, env_task_data
from focusrl.models import build_char_tokenizer, build_tiny_model, load_model_and_tokenizer
from focusrl.models.loading import resolve_device
from focusrl.models.lora import apply_lora
from focusrl.models.precision import compute_dtype
from focusrl.rewards.base import RewardPipeline
from focusrl.rollout.base import RolloutEngine
from focusrl.rollout.episodes import EpisodeRunner
from focusrl.runtime import configure_cpu
from focusrl.trainer.policy_scoring import PolicyScorer
from focusrl.trainer.update import policy_update
from focusrl.types import GenerationRequest, Sample, SamplingParams

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_model(cfg: Config, path: str | None = None) -> tuple[Any, Any]:
    """The policy and tokenizer: `path` (e.g. a checkpoint) overrides cfg.model.path."""
    path = path or cfg.model.path
    if path == "tiny":
        tok = build_char_tokenizer()
        t = cfg.model.tiny
        model = build_tiny_model(tok, t.hidden_size, t.num_layers, t.num_heads,
                                 t.intermediate_size, t.max_positions, seed=cfg.seed)
        return model, tok
    return load_model_and_tokenizer(path, cfg.model.dtype, cfg.model.trust_remote_code)


@dataclass
class Components:
    cfg: Config
    model: Any
    tokenizer: Any
    device: torch.device
    ref_model: Any
    engine: RolloutEngine
    """Generates samples (rollout.engine); reached only through its protocol."""
    policy: PolicyScorer
    """The trainer-side model for full-distribution statistics (EDCO entropies)."""
    compute_dtype: torch.dtype | None
    """model.mixed_precision as a dtype: the training forward's autocast target."""
    data: TaskData
    rewards: RewardPipeline
    sampler: PromptSampler
    format_stats: FormatStats
    loss_generator: torch.Generator
    """Randomness inside losses (Clip-Cov's random detach), checkpointed with the run."""
    scorer: Any = None
    """AsyncScorer, created on first use when rewards.overlap_with_generation is on."""
    policy_update: Any = policy_update
    """The update stage: policy_update, or its data-parallel form (resources.trainer_procs)."""
    episodes: EpisodeRunner | None = None
    """Runs multi-turn episodes through the engine when env.name is set."""

    def generate(self, reqs: list[GenerationRequest], params: SamplingParams) -> list[Sample]:
        """One sample per response: an episode (env.name set) or a single engine turn."""
        if self.episodes is not None:
            return self.episodes.run(self.engine, reqs, params)
        return self.engine.generate(reqs, params)

    def episode_stats(self) -> list[Any]:
        """The episode counters since the last call (a `counts()` record), if any."""
        return [self.episodes.take_stats()] if self.episodes is not None else []

    def close(self) -> None:
        """Release the engine and the reward workers."""
        if self.scorer is not None:
            self.scorer.close()
            self.scorer = None
        if hasattr(self.rewards, "close"):  # reward workers (before the engine ends Ray)
            self.rewards.close()
        self.engine.close()
        if hasattr(self.policy_update, "close"):
            self.policy_update.close()


def needs_reference(cfg: Config) -> bool:
    rlpt = cfg.algorithm.rlpt
    return cfg.algorithm.kl_coef > 0 or (rlpt.enabled and rlpt.source == "reference")


def build_components(cfg: Config, model_path: str | None = None,
                     engine_wrapper: EngineWrapper | None = None) -> Components:
    """The run's parts; `engine_wrapper` wraps the engine (benchmarks: a simulated remote
    server), in the trainer process or in every Ray rollout worker."""
    configure_cpu(cfg.threads, cfg.cpu_malloc)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.model.device)
    model, tokenizer = build_model(cfg, model_path)
    model.to(device)
    if cfg.train.activation_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    ref_model = None
    if needs_reference(cfg):
        ref_model = copy.deepcopy(model).eval()
        for p in ref_model.parameters():
            p.requires_grad_(False)
    if cfg.model.lora.enabled:  # after the reference: the reference is the base model
        model = apply_lora(model, cfg.model.lora)
    stats = FormatStats()
    if cfg.env.name:  # the environment's tasks; its runner renders turns (rollout/episodes)
        raw = data = env_task_data(cfg)
    else:
        raw = load_task_data(cfg.data)
        data = TaskData(prepare_prompts(raw.train, cfg.data, tokenizer, stats),
                        prepare_prompts(raw.eval, cfg.data, tokenizer, stats))
    if not data.train:
        raise ValueError(f"all {len(raw.train)} training prompts were over "
                         f"data.max_prompt_tokens={cfg.data.max_prompt_tokens}; raise it.")
    dtype = compute_dtype(cfg.model.mixed_precision, device, cfg.model.dtype)
    if cfg.model.mixed_precision == "auto":
        log.info("model.mixed_precision=auto: computing in %s on %s",
                 "bfloat16" if dtype else "float32", device)
    engine = build_rollout_engine(cfg, model, tokenizer, device, ref_model, engine_wrapper)
    policy = PolicyScorer(model, tokenizer, device, dtype, cfg.train.micro_batch_samples)
    rewards = build_reward_scorer(cfg, {"policy": model, "tokenizer": tokenizer,  # or Ray
                                        "device": device})
    sampler = build_sampler(cfg.curriculum, data.train, cfg.rollout.samples_per_prompt,
                            cfg.seed, engine=engine, policy=policy)
    loss_gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    episodes = build_episode_runner(cfg, tokenizer) if cfg.env.name else None
    return Components(cfg, model, tokenizer, device, ref_model, engine, policy, dtype, data,
                      rewards, sampler, stats, loss_gen,
                      policy_update=build_policy_update(cfg, device), episodes=episodes)
