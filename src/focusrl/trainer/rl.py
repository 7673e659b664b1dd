"""The RL loop: rollout -> reward -> advantage -> update -> sync -> log / eval / checkpoint.

`train(cfg)` is the whole loop in one function; each stage is a named call below it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from focusrl.algorithms.advantages import ADVANTAGES
from focusrl.algorithms.filtering import collect_informative_groups, overlong_filter_mask
from focusrl.config import Config
from focusrl.configtools import to_dict
from focusrl.envs.credit import assign_turn_advantages
from focusrl.envs.training import evaluate_episodes
from focusrl.rewards.async_scoring import AsyncScorer
from focusrl.rewards.base import RewardStats
from focusrl.trainer.batching import build_batch
from focusrl.trainer.checkpoint import (
    latest_checkpoint,
    load_optimizer,
    load_policy_weights,
    load_trainer_state,
    save_checkpoint,
    set_rng_state,
)
from focusrl.trainer.components import Components, build_components
from focusrl.trainer.evaluate import evaluate_policy, is_correct
from focusrl.trainer.logging import MetricsWriter, Progress
from focusrl.trainer.optim import build_optimizer
from focusrl.trainer.update import policy_update
from focusrl.types import GenerationRequest, Sample, SamplingParams

log = logging.getLogger(__name__)


def train(
    cfg: Config,
    resume: bool = False,
    components: Components | None = None,
    stop_at: int | None = None,
) -> dict[str, Any]:
    """Run RL for cfg.train.steps steps; returns the last step's metrics (incl. eval).

    `components` lets a caller hand over an already built (e.g. SFT-warmed) model.
    `stop_at` ends this process after that step (with a checkpoint) without changing the
    run's schedule, as an interruption would; `--resume` then continues it.
    With `resume`, the policy, optimizer, scheduler, sampler, engine and RNG states come
    from the newest checkpoint in cfg.run_dir; the reference model stays the initial policy.
    The policy version is the number of RL steps whose update the weights contain; the
    engine gets each new version right after the update (`sync_policy`).
    """
    run_dir = Path(cfg.run_dir)
    ckpt = latest_checkpoint(run_dir) if resume else None
    if resume and ckpt is None:
        log.warning("--resume: no checkpoint in %s; starting from scratch", run_dir)
    owns_components = components is None
    c = components or build_components(cfg)
    opt, sched = build_optimizer(
        c.model, cfg.optim.lr, cfg.optim.weight_decay, (cfg.optim.beta1, cfg.optim.beta2),
        cfg.optim.eps, cfg.optim.warmup_steps, cfg.train.steps * cfg.train.passes_per_batch,
        cfg.optim.schedule, cfg.optim.min_lr_ratio)
    start, total_tokens = 0, 0
    if ckpt is not None:
        start, total_tokens = _restore(ckpt, c, opt, sched)
    else:
        _write_run_dir(run_dir, cfg)
    sync_policy(c, start)  # restored or warm-started weights reach the engine
    writer = MetricsWriter(run_dir / "metrics.jsonl", resume_step=start if ckpt else None)
    progress = Progress(cfg.train.steps, start, "rl", cfg.train.progress)
    record: dict[str, Any] = {}
    last = min(cfg.train.steps, stop_at) if stop_at else cfg.train.steps
    for step in range(start + 1, last + 1):
        t0 = time.perf_counter()
        samples, record = rollout(c, step)
        t1 = time.perf_counter()
        if not samples:
            log.warning("step %d: no informative group after dynamic sampling; no update", step)
            writer.write({"step": step, **record, "skipped_updates": 1.0})
            progress.update()
            continue
        assign_advantages(samples, cfg)
        batch = build_batch(samples, c.tokenizer.pad_token_id, c.device)
        update = policy_update(
            c.model, opt, sched, batch, cfg.algorithm,
            passes=cfg.train.passes_per_batch, micro_batch_samples=cfg.train.micro_batch_samples,
            grad_clip=cfg.optim.grad_clip, temperature=cfg.rollout.temperature,
            max_length=cfg.algorithm.max_length_normalizer or cfg.rollout.max_response_tokens,
            ref_model=c.ref_model if cfg.algorithm.kl_coef > 0 else None,
            generator=c.loss_generator, shared_prefix=cfg.train.shared_prefix_forward,
            compute_dtype=c.compute_dtype)
        record.update(sync_policy(c, step))
        t2 = time.perf_counter()
        total_tokens += sum(s.num_response_tokens for s in samples)
        record.update(step=step, **sample_metrics(samples, c, step), **update.metrics,
                      lr=sched.get_last_lr()[0], total_tokens=total_tokens,
                      time_rollout=t1 - t0 - record["time_reward"],
                      time_update=t2 - t1 - record["time_sync"])
        if update.skipped_steps:
            log.warning("step %d: non-finite loss or gradient; %d optimizer step(s) skipped",
                        step, update.skipped_steps)
        if _due(step, cfg.train.eval_every, cfg.train.steps):
            record.update(run_eval(c, step))
        record["time_step"] = time.perf_counter() - t0
        writer.write(record)
        progress.update(reward=record["reward_mean"], acc=record["accuracy"],
                        **({"eval": record["eval/accuracy"]} if "eval/accuracy" in record else {}))
        if _due(step, cfg.train.checkpoint_every, cfg.train.steps) or step == stop_at:
            save_checkpoint(run_dir, step, c.model, c.tokenizer, opt,
                            _trainer_state(c, sched, total_tokens), cfg.train.keep_checkpoints)
    progress.close()
    if owns_components:
        c.close()
    elif c.scorer is not None:
        c.scorer.close()
        c.scorer = None
    return record


def sync_policy(c: Components, version: int) -> dict[str, float]:
    """The weight-sync stage: the engine samples from the trainer's current weights, as
    policy `version`, from now on (a no-op for the HF engine, which shares the model).
    Its seconds are logged as time_sync."""
    metrics = dict(c.engine.sync_weights(c.model, version))
    return {"time_sync": metrics.pop("sync_seconds", 0.0), **metrics}


def rollout(c: Components, step: int) -> tuple[list[Sample], dict[str, float]]:
    """Generate and score one step's groups; with DAPO dynamic sampling, drop groups whose
    rewards are all equal and refill (bounded rounds)."""
    cfg, algo = c.cfg, c.cfg.algorithm
    params = sampling_params(cfg)
    tally: dict[str, float] = {"time_reward": 0.0, "samples_generated": 0.0}
    rounds = [0]

    def generate_groups(num_prompts: int) -> list[Sample]:
        picks = c.sampler.next_prompts(num_prompts)
        reqs = [GenerationRequest(p, n, step * 100_000 + rounds[0] * 10_000 + i)
                for i, (p, n) in enumerate(picks)]
        rounds[0] += 1
        samples, all_stats, waited = generate_and_score(c, reqs, params)
        tally["time_reward"] += waited
        tally["samples_generated"] += len(samples)
        for stats in all_stats:
            for key, n in stats.counts().items():
                tally[key] = tally.get(key, 0.0) + n
        c.sampler.observe(samples)
        return samples

    if not algo.dynamic_sampling:
        return generate_groups(cfg.rollout.prompts_per_step), tally
    result = collect_informative_groups(generate_groups, cfg.rollout.prompts_per_step,
                                        algo.dynamic_sampling_max_rounds)
    tally.update(dynamic_rounds=float(result.rounds), dynamic_filled=float(result.filled),
                 dynamic_groups_kept=float(result.groups_kept))
    if not result.samples:  # every group had equal rewards: train on nothing this step
        return [], tally
    return result.samples, tally


def generate_and_score(
    c: Components, reqs: list[GenerationRequest], params: SamplingParams
) -> tuple[list[Sample], list[RewardStats], float]:
    """Generate and score; with rewards.overlap_with_generation, chunk i is scored in a
    worker thread while chunk i+1 is generated. Returns the samples, the reward stats and
    the seconds spent waiting for rewards (the reward time that was not hidden)."""
    if not c.cfg.rewards.overlap_with_generation:
        samples = c.generate(reqs, params)
        t = time.perf_counter()
        stats = c.rewards.score(samples)
        return samples, [stats, *c.episode_stats()], time.perf_counter() - t
    if c.scorer is None:
        c.scorer = AsyncScorer(c.rewards)
    chunks, size = [[]], 0
    for r in reqs:  # chunks of at most rollout.batch_samples samples, whole groups
        if size and size + r.num_samples > c.cfg.rollout.batch_samples:
            chunks.append([])
            size = 0
        chunks[-1].append(r)
        size += r.num_samples
    samples, futures = [], []
    for chunk in chunks:
        out = c.generate(chunk, params)
        futures.append(c.scorer.submit(out))
        samples.extend(out)
    t = time.perf_counter()
    stats = [f.result() for f in futures]
    return samples, [*stats, *c.episode_stats()], time.perf_counter() - t


def sampling_params(cfg: Config) -> SamplingParams:
    r, rlpt = cfg.rollout, cfg.algorithm.rlpt
    return SamplingParams(
        max_new_tokens=r.max_response_tokens, temperature=r.temperature, top_p=r.top_p,
        top_k=r.top_k, ignore_eos=r.ignore_eos, promising_k=rlpt.k if rlpt.enabled else 0,
        promising_top_p=rlpt.top_p, promising_max_k=rlpt.max_k, promising_source=rlpt.source)


def assign_advantages(samples: Sequence[Sample], cfg: Config) -> None:
    """Advantages by group id; DAPO overlong filtering then masks truncated samples."""
    rewards = torch.tensor([s.reward for s in samples], dtype=torch.float32)
    groups = torch.tensor([s.group_id for s in samples])
    adv = ADVANTAGES[cfg.algorithm.advantage](rewards, groups, cfg.algorithm)
    for s, a in zip(samples, adv.tolist()):
        s.advantage = a
    if cfg.env.name and cfg.env.credit == "turn":  # per-token advantages from turn returns
        assign_turn_advantages(samples, cfg.env.discount, cfg.algorithm.std_normalize,
                               cfg.algorithm.std_eps)
    if cfg.algorithm.overlong_filter:
        drop = overlong_filter_mask(torch.tensor([s.finished for s in samples]))
        for s, d in zip(samples, drop.tolist()):
            s.filtered = s.filtered or bool(d)


def sample_metrics(samples: Sequence[Sample], c: Components, step: int) -> dict[str, float]:
    n = len(samples)
    staleness = [step - 1 - s.policy_version for s in samples]  # versions behind the trainer
    rewards = torch.tensor([s.reward for s in samples])
    out = {
        "reward_mean": float(rewards.mean()),
        "reward_std": float(rewards.std()) if n > 1 else 0.0,
        "accuracy": sum(is_correct(s, c.rewards) for s in samples) / n,
        "response_length": sum(s.num_response_tokens for s in samples) / n,
        "truncated_frac": sum(s.truncated for s in samples) / n,
        "tokens": float(sum(s.num_response_tokens for s in samples)),
        "num_samples": float(n),
        "groups_nonzero_adv": _nonzero_group_frac(samples),
        "skipped_long_prompts": float(c.format_stats.skipped_long),
        "staleness_max": float(max(staleness)),
    }
    for name in samples[0].reward_parts:
        out[f"reward/{name}"] = sum(s.reward_parts[name] for s in samples) / n
    for key in ("rlpt_support_size", "rlpt_mass", "rlpt_leave_prob"):
        vals = [s.stats[key] for s in samples if key in s.stats]
        if vals:
            out[key] = sum(vals) / len(vals)
    return out


def run_eval(c: Components, step: int) -> dict[str, float]:
    cfg = c.cfg
    if c.episodes is not None:
        return evaluate_episodes(c.episodes, c.engine, c.data.eval, c.rewards,
                                 cfg.rollout.max_response_tokens, seed=cfg.seed * 7919 + step)
    return evaluate_policy(c.engine, c.data.eval, c.rewards, cfg.rollout.max_response_tokens,
                           cfg.train.eval_samples_per_prompt, cfg.train.eval_temperature,
                           seed=cfg.seed * 7919 + step)


def _informative_groups(samples: Sequence[Sample]) -> set[int]:
    by_group: dict[int, set[float]] = {}
    for s in samples:
        by_group.setdefault(s.group_id, set()).add(s.reward)
    return {g for g, vals in by_group.items() if len(vals) > 1}


def _nonzero_group_frac(samples: Sequence[Sample]) -> float:
    groups: dict[int, bool] = {}
    for s in samples:
        groups[s.group_id] = groups.get(s.group_id, False) or abs(s.advantage) > 1e-8
    return sum(groups.values()) / max(len(groups), 1)


def _due(step: int, every: int, last: int) -> bool:
    return step == last or (every > 0 and step % every == 0)


def _trainer_state(c: Components, sched: Any, total_tokens: int) -> dict[str, Any]:
    return {"sampler": c.sampler.state_dict(), "scheduler": sched.state_dict(),
            "engine": c.engine.state_dict(),
            "loss_rng": c.loss_generator.get_state(), "total_tokens": total_tokens}


def _restore(ckpt: Path, c: Components, opt: Any, sched: Any) -> tuple[int, int]:
    state = load_trainer_state(ckpt)
    load_policy_weights(c.model, ckpt / "model")
    load_optimizer(ckpt, opt)
    sched.load_state_dict(state["scheduler"])
    c.sampler.load_state_dict(state["sampler"])
    c.engine.load_state_dict(state["engine"])
    c.loss_generator.set_state(state["loss_rng"])
    set_rng_state(state["rng"])
    log.info("resumed from %s (step %d)", ckpt, state["step"])
    return int(state["step"]), int(state.get("total_tokens", 0))


def _write_run_dir(run_dir: Path, cfg: Config) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
