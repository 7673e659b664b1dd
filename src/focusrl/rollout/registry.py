"""`rollout.engine` -> the engine builder: one plain dict, like every registry here.

Every builder is called as `builder(cfg, model, tokenizer, device, ref_model)` and
returns a `RolloutEngine`. Optional engines are imported only when chosen, so a missing
extra is a clear error at start, not an import failure for everyone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from focusrl.configtools import ConfigError
from focusrl.models.precision import compute_dtype
from focusrl.rollout.base import RolloutEngine


def build_hf_engine(cfg: Any, model: Any, tokenizer: Any, device: torch.device,
                    ref_model: Any) -> RolloutEngine:
    from focusrl.rollout.hf_engine import HFEngine

    return HFEngine(model, tokenizer, device, seed=cfg.seed,
                    batch_samples=cfg.rollout.batch_samples, ref_model=ref_model,
                    lean_decode=cfg.rollout.lean_decode,
                    compute_dtype=compute_dtype(cfg.model.mixed_precision, device, cfg.model.dtype))


def build_vllm_engine(cfg: Any, model: Any, tokenizer: Any, device: torch.device,
                      ref_model: Any) -> RolloutEngine:
    # vllm_engine imports vLLM only when building, with an error naming the extra if absent
    from focusrl.rollout.vllm_engine import build_vllm_engine as build

    return build(cfg, model, tokenizer, device, ref_model)


EngineBuilder = Callable[[Any, Any, Any, torch.device, Any], RolloutEngine]

ENGINES: dict[str, EngineBuilder] = {
    "hf": build_hf_engine,
    "vllm": build_vllm_engine,
}


def build_engine(cfg: Any, model: Any, tokenizer: Any, device: torch.device,
                 ref_model: Any = None) -> RolloutEngine:
    """The engine `cfg.rollout.engine` names, serving `model`."""
    name = cfg.rollout.engine
    if name not in ENGINES:
        raise ConfigError(f"rollout.engine: unknown engine '{name}'; choose one of "
                          f"{', '.join(sorted(ENGINES))}.")
    return ENGINES[name](cfg, model, tokenizer, device, ref_model)
