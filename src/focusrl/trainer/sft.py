"""Supervised fine-tuning on (prompt, answer) pairs; the loss covers response tokens only.

A from-scratch model needs a warm start before RL can find any reward, and curricula
(EDCO) drive SFT as well as RL, so SFT takes its prompts from a sampler too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from focusrl.algorithms.logprobs import token_logprobs
from focusrl.config import SFTConfig
from focusrl.curriculum.base import PromptSampler
from focusrl.trainer.batching import build_batch, response_logits
from focusrl.trainer.logging import MetricsWriter, Progress
from focusrl.trainer.optim import build_optimizer
from focusrl.types import Prompt, Sample


def sft_sample(prompt: Prompt, tokenizer: Any, template: str) -> Sample:
    """The target response `template` (+ EOS) as a Sample with teacher-forced tokens."""
    fields = {**prompt.meta, "answer": prompt.answer}
    target = template.format(**fields)
    resp = tokenizer(target, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    return Sample(prompt_id=prompt.id, group_id=0,
                  prompt_ids=tokenizer(prompt.text, add_special_tokens=False).input_ids,
                  response_ids=resp, logprobs=[0.0] * len(resp), answer=prompt.answer)


def sft_loss(model: Any, samples: Sequence[Sample], pad_id: int, device: torch.device) -> torch.Tensor:
    """Mean negative log-likelihood of the response tokens."""
    batch = build_batch(samples, pad_id, device)
    logp = token_logprobs(response_logits(model, batch), batch.tokens)
    return -(logp * batch.mask).sum() / batch.mask.sum().clamp(min=1)


def run_sft(
    model: Any,
    tokenizer: Any,
    sampler: PromptSampler,
    cfg: SFTConfig,
    device: torch.device,
    metrics_path: str | Path | None = None,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train for cfg.steps optimizer steps on prompts drawn from `sampler`."""
    opt, sched = build_optimizer(model, cfg.lr, cfg.weight_decay, (0.9, 0.99), 1e-8,
                                 cfg.warmup_steps, cfg.steps)
    writer = MetricsWriter(metrics_path) if metrics_path else None
    bar = Progress(cfg.steps, 0, "sft", progress)
    history = []
    model.train()
    for step in range(1, cfg.steps + 1):
        t0 = time.perf_counter()
        picks = sampler.next_prompts(cfg.batch_sequences)
        samples = [sft_sample(p, tokenizer, cfg.response_template) for p, _ in picks]
        loss = sft_loss(model, samples, tokenizer.pad_token_id, device)
        opt.zero_grad(set_to_none=True)
        skipped = not math.isfinite(float(loss))
        if not skipped:
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0))
            skipped = not math.isfinite(grad_norm)
            if not skipped:
                opt.step()
        sched.step()
        record = {"step": step, "sft_loss": float(loss), "lr": sched.get_last_lr()[0],
                  "skipped_updates": float(skipped), "time_step": time.perf_counter() - t0}
        history.append(record)
        if writer:
            writer.write(record)
        bar.update(loss=float(loss))
    bar.close()
    opt.zero_grad(set_to_none=True)
    return history
