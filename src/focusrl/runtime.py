"""Process-level CPU settings: torch threads and the allocator (`threads`, `cpu_malloc`).

On the CPU, PyTorch allocates tensors with the C library's malloc. glibc serves
allocations above its mmap threshold (128 KiB at start, adapting upwards to at most
32 MiB) with fresh `mmap` pages and returns them to the OS on free, so every large
activation of every step page-faults its memory in again (the kernel zeroes each 4 KiB
page). `tune_malloc` raises the threshold to 32 MiB and the trim threshold to 1 GiB,
so freed blocks are reused. On the tiny model's long-response step (benchmarks/cpu_malloc.py,
best of 3) the update takes 0.86x the time and the whole step 0.96x; generation, whose
tensors are small, does not change (docs/benchmarks.md). The cost is that freed memory
stays in the process: RSS no longer falls back after a peak, and the peak may grow a
little (vs_trl's long setting, fp32: 1015-1137 MB with it, 1036-1069 MB without).
This is what Intel's PyTorch CPU guide gets with jemalloc/tcmalloc through LD_PRELOAD,
done at run time without a preload. glibc (Linux) only; elsewhere it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

import torch

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024

_tuned = False


def tune_malloc() -> bool:
    """Keep freed tensor memory in the heap for reuse (see the module docstring).
    Returns True when glibc accepted both settings; idempotent."""
    global _tuned
    if _tuned:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (macOS, musl, Windows): nothing to tune
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
          and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1)
    if not ok:
        log.warning("mallopt refused the allocator settings; continuing with the defaults")
    _tuned = ok
    return ok


def configure_cpu(threads: int, malloc: bool) -> None:
    """Apply the `threads` and `cpu_malloc` config fields to this process."""
    if threads > 0:
        torch.set_num_threads(threads)
    if malloc:
        tune_malloc()
