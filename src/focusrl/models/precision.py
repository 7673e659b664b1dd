"""Mixed precision: bfloat16 matmuls over float32 parameters (`model.mixed_precision`).

`torch.autocast` semantics, applied to the training forward (RL and SFT) and to
generation: linear layers (projections, MLP, LM head) take bfloat16 inputs and weights;
parameters, gradients, optimizer state, the residual stream, norms, the sampler's
softmax and the loss stay in float32. This is what TRL does by default (accelerate's
bf16 autocast, also on the CPU). On CPUs with AVX512-BF16 or AMX a bfloat16 matmul is
about twice as fast as a float32 one (benchmarks/vs_trl.py); on GPUs it is the usual
setting.

Departures from plain autocast, on the CPU only (models/lean.py). The training forward
computes attention with the math formula (bfloat16 QK^T and PV matmuls around a float32
softmax) rather than PyTorch's CPU flash kernel, whose bfloat16 backward is slow. The
lean decoder keeps its KV cache and its attention in float32 (bfloat16 batched
matrix-vector products are slower there), so sampler and trainer attention differ by
bf16 rounding (logged as logp_mismatch, ~1e-4 on the tiny model).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

MIXED_PRECISION = {"none": None, "bf16": torch.bfloat16}


def compute_dtype(mixed_precision: str) -> torch.dtype | None:
    """The autocast dtype for a `model.mixed_precision` value (None: no autocast)."""
    try:
        return MIXED_PRECISION[mixed_precision]
    except KeyError:
        raise ValueError(f"mixed_precision={mixed_precision!r}: expected one of "
                         f"{sorted(MIXED_PRECISION)}") from None


def autocast(device: torch.device | str, dtype: torch.dtype | None) -> Any:
    """torch.autocast on `device` to `dtype`, or a no-op context when dtype is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def full_precision(device: torch.device | str) -> Any:
    """A region that runs in the tensors' own dtype even inside `autocast`."""
    return torch.autocast(torch.device(device).type, enabled=False)
