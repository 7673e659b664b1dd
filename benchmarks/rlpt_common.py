"""Shared parts of the RLPT benchmarks (rlpt_overhead, grad_variance, ablation_rlpt).

All three start from the quickstart's SFT warm start (tiny model, 1-2 digit addition, a
teacher who forgets carries) so they measure the same policy. The warm start is built
once per seed under `bench_out/warm_start/seed<s>` and reused.

Training runs go through the trainer's own loop (`rl.train` with an `on_step` hook);
the gradient probes call the trainer's own stages (`rollout`, `assign_advantages`,
`build_batch`, `policy_token_stats`, `LOSSES`); nothing about the algorithms is
re-implemented.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any

import torch

from focusrl.algorithms.grad_variance import gradient_variance
from focusrl.algorithms.logprobs import entropy_from_logits
from focusrl.algorithms.losses import LOSSES, LossInput
from focusrl.config import Config
from focusrl.quickstart import quickstart_config, save_warm_start
from focusrl.trainer.batching import TrainBatch, build_batch, response_logits
from focusrl.trainer.components import Components, build_components
from focusrl.trainer.logging import read_metrics
from focusrl.trainer.rl import assign_advantages, rollout, run_eval, sample_metrics, train
from focusrl.trainer.token_head import Forward
from focusrl.trainer.update import policy_token_stats

WARM_ROOT = Path(__file__).resolve().parents[1] / "bench_out" / "warm_start"

COMMON = ["train.progress=false", "train.checkpoint_every=0", "threads=2"]
"""Added to the quickstart's settings in every benchmark run."""

QUICK = [
    "sft.steps=10", "sft.batch_sequences=32", "data.num_train=400", "data.num_eval=24",
    "rollout.prompts_per_step=4", "rollout.samples_per_prompt=4",
]
"""Smoke mode: seconds, not minutes; checks structure, not numbers."""

RLPT = "algorithm.rlpt.enabled=true"
DAPO = ["algorithm.loss=dapo", "algorithm.clip_eps_high=0.28", "algorithm.dynamic_sampling=true"]


def rlpt(k: int, source: str = "policy") -> list[str]:
    return [RLPT, f"algorithm.rlpt.k={k}", f"algorithm.rlpt.source={source}"]


def warm_start(seed: int, quick: bool, root: Path = WARM_ROOT) -> Path:
    """The SFT warm start for `seed` (built once, then reused from disk)."""
    out = root / (f"quick_seed{seed}" if quick else f"seed{seed}")
    path = out / "sft_model"
    if not (path / "config.json").exists():
        t0 = time.perf_counter()
        save_warm_start(out, seed, [*COMMON, *(QUICK if quick else [])])
        print(f"  warm start seed {seed}: SFT done in {time.perf_counter() - t0:.0f}s -> {path}",
              flush=True)
    return path


def make_config(seed: int, run_dir: Path | str, overrides: list[str], quick: bool) -> Config:
    return quickstart_config(seed, str(run_dir), [*COMMON, *(QUICK if quick else []),
                                                  *overrides])


def batch_gradient(c: Components, step: int) -> tuple[torch.Tensor, dict[str, float]]:
    """One independent batch (the trainer's rollout, incl. DAPO dynamic sampling) and the
    policy gradient the trainer's first optimiser pass would apply, flattened (P,), before
    clipping. No optimizer step. Also returns the batch's sample metrics."""
    cfg = c.cfg
    samples, tally = rollout(c, step)
    params = [p for p in c.model.parameters() if p.requires_grad]
    if not samples:  # DAPO: every group had equal rewards; the trainer skips the update
        return torch.cat([torch.zeros_like(p).flatten() for p in params]), tally
    assign_advantages(samples, cfg)
    batch = build_batch(samples, c.tokenizer.pad_token_id, c.device)
    c.model.zero_grad(set_to_none=True)
    c.model.train()
    num_seqs = float((batch.mask.sum(-1) > 0).sum())
    loss_fn = LOSSES[cfg.algorithm.loss]
    mbs = cfg.train.micro_batch_samples
    for start in range(0, len(batch), mbs):
        mb = batch.slice(start, min(start + mbs, len(batch)))
        fwd = Forward(c.model, mb, cfg.rollout.temperature, False, None,
                      cfg.train.logits_chunk_tokens)
        st = policy_token_stats(fwd, mb, cfg.algorithm)
        inp = LossInput(
            logp=st.logp, old_logp=st.logp.detach(), advantages=mb.advantages, mask=mb.mask,
            num_tokens=batch.num_tokens, num_sequences=num_seqs,
            max_length=cfg.algorithm.max_length_normalizer or cfg.rollout.max_response_tokens,
            ref_logp=None, entropy=st.entropy, proxy_logp=st.proxy_logp,
            generator=c.loss_generator)
        loss_fn(inp, cfg.algorithm).loss.backward()
    grad = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                      for p in params]).detach().clone()
    c.model.zero_grad(set_to_none=True)
    return grad, {**sample_metrics(samples, c, 1), **tally}


def variance_at(cfg: Config, model_path: Path, num_batches: int) -> dict[str, float]:
    """Gradient variance across `num_batches` independent batches at a fixed checkpoint.

    Besides the trace of the covariance (`total_variance`) it reports
    `relative_variance` = total_variance / ||mean gradient||^2 (noise per unit of signal),
    because a restriction that merely shrinks every gradient would lower the raw variance
    without making the estimate any more reliable."""
    c = build_components(cfg, model_path=str(model_path))
    grads, masses = [], []
    for i in range(num_batches):
        g, m = batch_gradient(c, 10_000 + i)
        grads.append(g)
        masses.append(m.get("rlpt_mass", 1.0))
    out = gradient_variance(grads, unbiased=True)
    out["relative_variance"] = out["total_variance"] / max(out["mean_grad_sq_norm"], 1e-30)
    out["mean_grad_norm_per_batch"] = float(torch.stack(grads).norm(dim=-1).mean())
    out["rlpt_mass"] = sum(masses) / len(masses)
    return out


@torch.no_grad()
def full_entropy(c: Components, batch: TrainBatch) -> float:
    """Mean entropy of the *unrestricted* policy over the batch's response tokens. The
    trainer's `entropy` metric is over the restricted distribution under RLPT (smaller by
    construction), so this is the one to compare across variants."""
    logits = response_logits(c.model, batch, c.cfg.rollout.temperature)
    ent = entropy_from_logits(logits)  # (B, T)
    return float((ent * batch.mask).sum() / batch.mask.sum().clamp(min=1))


def train_to_budget(cfg: Config, model_path: Path, sample_budget: int,
                    eval_every_samples: int, full_entropy_every: int = 5
                    ) -> list[dict[str, Any]]:
    """RL from the warm start with the trainer's own loop (`rl.train`) until `sample_budget`
    samples have been *generated* (DAPO's dynamic sampling generates more per step than it
    trains on), evaluating held-out accuracy at 0 samples, whenever another
    `eval_every_samples` have been generated, and at the end; the unrestricted entropy
    (`entropy_full`) every `full_entropy_every` steps from step 1. An `on_step` hook does
    the counting and stops the run. The LR schedule is built for sample_budget / batch
    steps; use optim.schedule=constant so that runs stopping after different step counts
    see the same learning rates. Returns the start's eval record, then the run's
    metrics.jsonl rows, each with `samples` (generated so far). `cfg` is not changed."""
    cfg = copy.deepcopy(cfg)
    per_step = cfg.rollout.prompts_per_step * cfg.rollout.samples_per_prompt
    cfg.train.steps = math.ceil(sample_budget / per_step)
    cfg.train.eval_every = 0  # the hook evaluates; train() evaluates the last step
    c = build_components(cfg, model_path=str(model_path))
    start = {"step": 0, "samples": 0, **run_eval(c, 0)}
    generated, next_eval = 0, eval_every_samples

    def on_step(c: Components, step: int, record: dict[str, Any], samples: list) -> bool:
        nonlocal generated, next_eval
        generated += int(record["samples_generated"])
        record["samples"] = generated
        if samples and (step - 1) % full_entropy_every == 0:
            batch = build_batch(samples, c.tokenizer.pad_token_id, c.device)
            record["entropy_full"] = full_entropy(c, batch)
        if generated >= sample_budget:
            return True  # train() evaluates and checkpoints the last step
        if generated >= next_eval:
            record.update(run_eval(c, step))
            while next_eval <= generated:
                next_eval += eval_every_samples
        return False

    try:
        train(cfg, components=c, overwrite=True, on_step=on_step)
    finally:
        c.close()
    return [start, *read_metrics(Path(cfg.run_dir) / "metrics.jsonl")]
