"""AdamW with linear warm-up and cosine (or constant) decay."""

from __future__ import annotations

import math
from typing import Any

import torch


def lr_lambda(warmup: int, total: int, schedule: str, min_ratio: float):
    def fn(step: int) -> float:
        if warmup > 0 and step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return fn


def build_optimizer(
    model: Any, lr: float, weight_decay: float, betas: tuple[float, float], eps: float,
    warmup: int, total_steps: int, schedule: str = "cosine", min_ratio: float = 0.1,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=betas, eps=eps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lr_lambda(warmup, total_steps, schedule, min_ratio))
    return opt, sched
