"""Supervised fine-tuning on (prompt, answer) pairs; the loss covers response tokens only.

A from-scratch model needs a warm start before RL can find any reward, and curricula
(EDCO) drive SFT as well as RL, so SFT takes its prompts from a sampler too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from focusrl.algorithms.logprobs import token_logprobs
from focusrl.config import Config, SFTConfig
from focusrl.curriculum.base import PromptSampler
from focusrl.trainer.batching import build_batch, response_logits
from focusrl.trainer.checkpoint import save_model_dir
from focusrl.trainer.logging import MetricsWriter, Progress
from focusrl.trainer.optim import build_optimizer
from focusrl.types import Prompt, Sample


def sft_target(prompt: Prompt, template: str) -> str:
    """The demonstration: `template` filled from the prompt's answer and meta fields."""
    try:
        return template.format(**{**prompt.meta, "answer": prompt.answer})
    except KeyError as e:
        raise ValueError(f"sft.response_template {template!r} names {e}, which prompt "
                         f"'{prompt.id}' does not have (fields: answer, "
                         f"{', '.join(sorted(prompt.meta))}).") from None


def sft_sample(prompt: Prompt, tokenizer: Any, target: str) -> Sample:
    """`target` (+ EOS) as a Sample with teacher-forced response tokens."""
    resp = tokenizer(target, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    return Sample(prompt_id=prompt.id, group_id=0,
                  prompt_ids=tokenizer(prompt.text, add_special_tokens=False).input_ids,
                  response_ids=resp, logprobs=[0.0] * len(resp), answer=prompt.answer)


def sft_loss(
    model: Any, samples: Sequence[Sample], pad_id: int, device: torch.device,
    compute_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Mean negative log-likelihood of the response tokens."""
    batch = build_batch(samples, pad_id, device)
    logits = response_logits(model, batch, compute_dtype=compute_dtype)
    logp = token_logprobs(logits, batch.tokens)
    return -(logp * batch.mask).sum() / batch.mask.sum().clamp(min=1)


def run_sft(
    model: Any,
    tokenizer: Any,
    sampler: PromptSampler,
    cfg: SFTConfig,
    device: torch.device,
    metrics_path: str | Path | None = None,
    progress: bool = True,
    target_fn: Callable[[Prompt], str] | None = None,
    compute_dtype: torch.dtype | None = None,
) -> list[dict[str, float]]:
    """Train for cfg.steps optimizer steps on prompts drawn from `sampler`.

    `target_fn` makes the demonstration for a prompt (default: cfg.response_template);
    the quickstart uses it to model an imperfect teacher. `compute_dtype`: mixed
    precision (models/precision.py).
    """
    target_fn = target_fn or (lambda p: sft_target(p, cfg.response_template))
    opt, sched = build_optimizer(model, cfg.lr, cfg.weight_decay, (0.9, 0.99), 1e-8,
                                 cfg.warmup_steps, cfg.steps)
    writer = MetricsWriter(metrics_path) if metrics_path else None
    bar = Progress(cfg.steps, 0, "sft", progress)
    history = []
    model.train()
    for step in range(1, cfg.steps + 1):
        t0 = time.perf_counter()
        picks = sampler.next_prompts(cfg.batch_sequences)
        samples = [sft_sample(p, tokenizer, target_fn(p)) for p, _ in picks]
        loss = sft_loss(model, samples, tokenizer.pad_token_id, device, compute_dtype)
        opt.zero_grad(set_to_none=True)
        skipped = not math.isfinite(loss.item())
        if not skipped:
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0))
            skipped = not math.isfinite(grad_norm)
            if not skipped:
                opt.step()
        sched.step()
        record = {"step": step, "sft_loss": loss.item(), "lr": sched.get_last_lr()[0],
                  "skipped_updates": float(skipped), "time_step": time.perf_counter() - t0}
        history.append(record)
        if writer:
            writer.write(record)
        bar.update({"sft_loss": loss.item()})
    bar.close()
    opt.zero_grad(set_to_none=True)
    return history


def sft_main(cfg: Config, overwrite: bool = False) -> dict[str, Any]:
    """`focusrl sft`: SFT from cfg.model.path; held-out eval before and after; the model
    is saved to <run_dir>/sft_model (use it as model.path of an RL run). run_dir must not
    hold another run (trainer/rundir.py) unless `overwrite`."""
    from focusrl.trainer.components import build_components
    from focusrl.trainer.preflight import check_answers
    from focusrl.trainer.rl import run_eval
    from focusrl.trainer.rundir import RL_ARTEFACTS, SFT_ARTEFACTS, claim_run_dir

    run_dir = Path(cfg.run_dir)
    claim_run_dir(run_dir, SFT_ARTEFACTS + RL_ARTEFACTS, overwrite, command="sft")
    c = build_components(cfg)
    if "{answer}" in cfg.sft.response_template:
        check_answers(cfg, c.data.train)
    run_dir.mkdir(parents=True, exist_ok=True)
    before = run_eval(c, 0)
    history = run_sft(c.model, c.tokenizer, c.sampler, cfg.sft, c.device,
                      metrics_path=run_dir / "sft_metrics.jsonl", progress=cfg.train.progress,
                      compute_dtype=c.compute_dtype)
    c.engine.sync_weights(c.model, c.engine.policy_version)  # evaluate the SFT weights
    after = run_eval(c, cfg.sft.steps)
    out = run_dir / "sft_model"
    save_model_dir(c.model, c.tokenizer, out)
    return {"before": before, "after": after, "first_loss": history[0]["sft_loss"],
            "final_loss": history[-1]["sft_loss"], "steps": len(history), "model": str(out),
            "metrics": str(run_dir / "sft_metrics.jsonl")}


def sft_summary(result: dict[str, Any]) -> str:
    """The lines `focusrl sft` ends with: loss, held-out accuracy, where the model is."""
    acc = "eval/accuracy"
    lines = [f"SFT: {result['steps']} steps, loss {result['first_loss']:.3f} -> "
             f"{result['final_loss']:.3f}"]
    if acc in result["before"] and acc in result["after"]:
        lines.append(f"  held-out greedy accuracy: before {result['before'][acc]:.1%} -> "
                     f"after {result['after'][acc]:.1%}")
    lines += [f"  model: {result['model']}  (RL on it: focusrl train CONFIG "
              f"model.path={result['model']})", f"  metrics: {result['metrics']}"]
    return "\n".join(lines)
