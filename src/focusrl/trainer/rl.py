"""The RL loop: rollout -> reward -> advantage -> update -> sync -> log / eval / checkpoint.

`train(cfg)` is the whole loop in one function; each stage is a named call below it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from focusrl.algorithms.advantages import ADVANTAGES, PART_ADVANTAGES, batch_normalise
from focusrl.algorithms.filtering import collect_informative_groups, overlong_filter_mask
from focusrl.config import Config, ConfigError
from focusrl.distributed.asynchronous import build_rollout_source
from focusrl.envs.credit import assign_turn_advantages
from focusrl.envs.training import evaluate_episodes
from focusrl.report.samples import SampleKeeper
from focusrl.rewards.async_scoring import AsyncScorer
from focusrl.rewards.base import RewardStats
from focusrl.trainer.batching import build_batch
from focusrl.trainer.checkpoint import (
    LoadedCheckpoint,
    load_usable_checkpoint,
    load_weights_into,
    save_checkpoint,
    set_rng_state,
)
from focusrl.trainer.components import Components, build_components
from focusrl.trainer.evaluate import evaluate_policy, is_correct
from focusrl.trainer.logging import MetricsWriter, Progress, open_metrics
from focusrl.trainer.optim import build_rl_optimizer
from focusrl.trainer.preflight import check_answers, check_can_learn
from focusrl.trainer.resume import (
    ConfigDrift,
    apply_lr_schedule,
    check_config_drift,
    record_config_change,
    write_config,
)
from focusrl.trainer.rundir import claim_run_dir, resume_point, run_summary
from focusrl.types import GenerationRequest, Sample, SamplingParams

log = logging.getLogger(__name__)

StepHook = Callable[[Components, int, dict[str, Any], list[Sample]], bool | None]
"""`on_step(c, step, record, samples)`: called at the end of each step, after the update
and the weight sync and before the step is evaluated, logged and checkpointed. It may add
metrics to `record` (they are logged with the step) and returns True to end the run after
this step, which is then evaluated and checkpointed as the last one. Benchmarks use it to
stop at a budget of generated samples or to measure something extra, without copying the
loop."""


def train(
    cfg: Config,
    resume: bool = False,
    components: Components | None = None,
    stop_at: int | None = None,
    allow_config_change: bool = False,
    overwrite: bool = False,
    on_step: StepHook | None = None,
) -> dict[str, Any]:
    """Run RL for cfg.train.steps steps; returns the last step's metrics (incl. eval).

    `components` lets a caller hand over an already built (e.g. SFT-warmed) model.
    `stop_at` ends this process after that step (with a checkpoint) without changing the
    run's schedule, as an interruption would; `--resume` then continues it. `on_step`: see
    StepHook.
    With `resume`, the policy, optimizer, scheduler, sampler, engine and RNG states come
    from the newest usable checkpoint in cfg.run_dir (trainer/checkpoint.py); the reference
    model stays the initial policy. cfg is checked against the run's config.yaml first
    (trainer/resume.py): changes need `allow_config_change`, and some are refused.
    Without `resume`, cfg.run_dir must not hold another run (trainer/rundir.py) unless
    `overwrite`. The policy version is the number of RL steps whose update the weights
    contain; the engine gets each new version right after the update (`sync_policy`).
    Ends by printing the run's summary.
    """
    run_dir = Path(cfg.run_dir)
    check_can_learn(cfg)
    if resume:
        resume_point(run_dir)  # refuses a directory that holds no run
    else:
        claim_run_dir(run_dir, overwrite=overwrite)
    has_ckpt = resume and (run_dir / "checkpoints").is_dir()
    drift = check_config_drift(cfg, allow_config_change) if has_ckpt else None
    owns_components = components is None
    c = components or build_components(cfg)
    check_answers(cfg, c.data.train)
    opt, sched = build_rl_optimizer(cfg, c.model)
    start, total_tokens = 0, 0
    ckpt = load_usable_checkpoint(run_dir, next(c.model.parameters()).dtype) if has_ckpt else None
    if resume and ckpt is None:
        log.warning("--resume: no checkpoint in %s; starting from scratch", run_dir)
    if ckpt is not None:
        start, total_tokens = _restore(ckpt, c, opt, sched, drift)
        print(f"resuming {run_dir} from {ckpt.path} (step {start} of {cfg.train.steps})",
              flush=True)
    else:
        write_config(run_dir, cfg)
    sync_policy(c, start)  # restored or warm-started weights reach the engine
    source = build_rollout_source(c, start, lambda s: rollout(c, s))  # sync, or async (k>0)
    writer = open_metrics(cfg, resume_step=start if ckpt else None)
    progress = Progress(cfg.train.steps, start, "rl", cfg.train.progress)
    record: dict[str, Any] = {}
    last = min(cfg.train.steps, stop_at) if stop_at else cfg.train.steps

    def end_step(step: int, record: dict[str, Any], samples: list[Sample], t0: float) -> bool:
        """The hook, then eval / log / checkpoint; True when the hook ended the run."""
        stop = bool(on_step and on_step(c, step, record, samples))
        _eval_and_checkpoint(c, step, stop_at, record, writer, opt, sched, total_tokens, t0, stop)
        progress.update(record, writer.alerts)
        return stop

    for step in range(start + 1, last + 1):
        t0 = time.perf_counter()
        samples, record = source.take(step)
        t1 = time.perf_counter()
        if not samples:
            log.warning("step %d: no informative group after dynamic sampling; no update", step)
            sync_policy(c, step)  # same weights, next version: async gating moves on
            source.published(step)
            record.update(step=step, skipped_updates=1.0)
            if end_step(step, record, samples, t0):
                last = step
                break
            continue
        assign_advantages(samples, cfg)
        batch = build_batch(samples, c.tokenizer.pad_token_id, c.device)
        update = c.policy_update(  # one process, or data-parallel ranks (resources)
            c.model, opt, sched, batch, cfg.algorithm,
            passes=cfg.train.passes_per_batch, micro_batch_samples=cfg.train.micro_batch_samples,
            grad_clip=cfg.optim.grad_clip, temperature=cfg.rollout.temperature,
            max_length=cfg.algorithm.max_length_normalizer or cfg.rollout.max_response_tokens,
            ref_model=c.ref_model if cfg.algorithm.kl_coef > 0 else None,
            generator=c.loss_generator, shared_prefix=cfg.train.shared_prefix_forward,
            compute_dtype=c.compute_dtype, chunk_tokens=cfg.train.logits_chunk_tokens)
        record.update(sync_policy(c, step))
        source.published(step)
        t2 = time.perf_counter()
        total_tokens += sum(s.num_response_tokens for s in samples)
        record.update(step=step, **sample_metrics(samples, c, step), **update.metrics,
                      lr=sched.get_last_lr()[0], total_tokens=total_tokens,
                      time_rollout=t1 - t0 - record["time_reward"],
                      time_update=t2 - t1 - record["time_sync"])
        if update.skipped_steps:
            log.warning("step %d: non-finite loss or gradient; %d optimizer step(s) skipped",
                        step, update.skipped_steps)
        if end_step(step, record, samples, t0):
            last = step
            break
    progress.close()
    writer.close()
    source.close()
    if owns_components:
        c.close()
    elif c.scorer is not None:
        c.scorer.close()
        c.scorer = None
    print(run_summary(run_dir, cfg.train.steps, start + 1, last, ckpt.path if ckpt else None),
          flush=True)
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
    groups = torch.tensor([s.group_id for s in samples])
    if cfg.algorithm.advantage in PART_ADVANTAGES:  # one column per weighted reward part
        parts = [p for p in cfg.rewards.parts if p.weight != 0]
        table = torch.tensor([[s.reward_parts[p.label] for p in parts] for s in samples],
                             dtype=torch.float32)
        weights = torch.tensor([p.weight for p in parts])
        adv = PART_ADVANTAGES[cfg.algorithm.advantage](table, weights, groups, cfg.algorithm)
    else:
        rewards = torch.tensor([s.reward for s in samples], dtype=torch.float32)
        adv = ADVANTAGES[cfg.algorithm.advantage](rewards, groups, cfg.algorithm)
    if cfg.algorithm.batch_normalize:
        adv = batch_normalise(adv, cfg.algorithm.std_eps)
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
        "samples_nonzero_adv": sum(abs(s.advantage) > 1e-8 for s in samples) / n,
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
    """Held-out metrics; a few of the greedy samples go to the samples log (samples.jsonl)."""
    cfg, keeper = c.cfg, SampleKeeper(c.cfg.train.samples_per_eval)
    if c.episodes is not None:
        return evaluate_episodes(c.episodes, c.engine, c.data.eval, c.rewards,
                                 cfg.rollout.max_response_tokens, seed=cfg.seed * 7919 + step)
    out = evaluate_policy(c.engine, c.data.eval, c.rewards, cfg.rollout.max_response_tokens,
                          cfg.train.eval_samples_per_prompt, cfg.train.eval_temperature,
                          seed=cfg.seed * 7919 + step, observe=keeper)
    keeper.write(cfg.run_dir, step)
    return out


def _nonzero_group_frac(samples: Sequence[Sample]) -> float:
    groups: dict[int, bool] = {}
    for s in samples:
        groups[s.group_id] = groups.get(s.group_id, False) or abs(s.advantage) > 1e-8
    return sum(groups.values()) / max(len(groups), 1)


def _due(step: int, every: int, last: int) -> bool:
    return step == last or (every > 0 and step % every == 0)


def _eval_and_checkpoint(c: Components, step: int, stop_at: int | None, record: dict[str, Any],
                         writer: MetricsWriter, opt: Any, sched: Any, total_tokens: int,
                         t0: float, last: bool = False) -> None:
    """End of a step, with or without an update: eval when due, log, checkpoint when due
    (so a step whose groups were all dropped still evaluates and saves on schedule). `last`:
    an on_step hook ended the run here."""
    cfg = c.cfg
    if last or _due(step, cfg.train.eval_every, cfg.train.steps):
        record.update(run_eval(c, step))
    record["time_step"] = time.perf_counter() - t0
    writer.write(record)
    if last or _due(step, cfg.train.checkpoint_every, cfg.train.steps) or step == stop_at:
        save_checkpoint(cfg.run_dir, step, c.model, c.tokenizer, opt,
                        _trainer_state(c, sched, total_tokens), cfg.train.keep_checkpoints)


def _trainer_state(c: Components, sched: Any, total_tokens: int) -> dict[str, Any]:
    return {"sampler": c.sampler.state_dict(), "scheduler": sched.state_dict(),
            "engine": c.engine.state_dict(),
            "loss_rng": c.loss_generator.get_state(), "total_tokens": total_tokens}


def _restore(ckpt: LoadedCheckpoint, c: Components, opt: Any, sched: Any,
             drift: ConfigDrift | None) -> tuple[int, int]:
    state = ckpt.trainer_state
    if c.cfg.train.steps < state["step"]:
        raise ConfigError(f"--resume: train.steps={c.cfg.train.steps}, but {ckpt.path} is "
                          f"already at step {state['step']}; set train.steps >= {state['step']}.")
    load_weights_into(c.model, ckpt.weights)
    opt.load_state_dict(ckpt.optimizer_state)
    sched.load_state_dict(state["scheduler"])
    c.sampler.load_state_dict(state["sampler"])
    c.engine.load_state_dict(state["engine"])
    c.loss_generator.set_state(state["loss_rng"])
    set_rng_state(state["rng"])
    if drift is not None and drift.changes:
        lr = apply_lr_schedule(c.cfg, opt, sched) if drift.optim_changed else None
        record_config_change(c.cfg, drift, int(state["step"]), lr)
    log.info("resumed from %s (step %d)", ckpt.path, state["step"])
    return int(state["step"]), int(state.get("total_tokens", 0))
