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

`auto` (the default) picks bf16 where the hardware computes it natively (CUDA devices
that support it; CPUs with AVX512-BF16 or AMX, read from the CPU flags at run time) and
float32 elsewhere: on a CPU without them bfloat16 is emulated and slower than float32.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any

import torch

MIXED_PRECISION = {"none": None, "bf16": torch.bfloat16}


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bfloat16 matmuls natively (AVX512-BF16 or AMX)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: trust PyTorch's own dispatch level
        return torch.backends.cpu.get_cpu_capability() in ("AVX512_BF16", "AMX")
    flags = next((ln for ln in text.splitlines() if ln.startswith("flags")), "").split()
    return any(f in flags for f in BF16_CPU_FLAGS)


def native_bf16(device: torch.device | str) -> bool:
    """True when `device` computes bfloat16 natively."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return dev.type == "cpu" and cpu_has_native_bf16()


def compute_dtype(mixed_precision: str, device: torch.device | str = "cpu",
                  parameter_dtype: str = "float32") -> torch.dtype | None:
    """The autocast dtype for a `model.mixed_precision` value on `device` (None: no
    autocast); `auto` is bf16 where `device` computes it natively and the parameters are
    float32, else None."""
    if mixed_precision == "auto":
        native = parameter_dtype == "float32" and native_bf16(device)
        return torch.bfloat16 if native else None
    try:
        return MIXED_PRECISION[mixed_precision]
    except KeyError:
        raise ValueError(f"mixed_precision={mixed_precision!r}: expected one of "
                         f"{sorted(MIXED_PRECISION)} or 'auto'") from None


def autocast(device: torch.device | str, dtype: torch.dtype | None) -> Any:
    """torch.autocast on `device` to `dtype`, or a no-op context when dtype is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def full_precision(device: torch.device | str) -> Any:
    """A region that runs in the tensors' own dtype even inside `autocast`."""
    return torch.autocast(torch.device(device).type, enabled=False)
