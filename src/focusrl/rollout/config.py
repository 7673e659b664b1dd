"""Config of the vLLM rollout engine (`rollout.vllm.*`); read only when rollout.engine=vllm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from focusrl.configtools import ConfigError


@dataclass
class VLLMConfig:
    """The in-process vLLM engine (rollout/vllm_engine.py)."""

    gpu_memory_utilization: float = 0.3
    """GPU only: share of the GPU's memory vLLM may take (weights + KV cache); the trainer,
    colocated on the same GPU, gets the rest."""
    cpu_kv_cache_gib: float = 1.0
    """CPU only: GiB of KV cache (sets VLLM_CPU_KVCACHE_SPACE unless it is set already)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Dtype vLLM computes in; 'auto' takes model.dtype."""
    enforce_eager: bool = True
    """Skip CUDA-graph capture and torch.compile: start-up in seconds instead of minutes.
    false is faster per token on a GPU for long runs."""
    max_model_len: int = 0
    """Longest prompt + response in tokens vLLM plans its KV cache for; 0 takes the
    model's own limit (max_position_embeddings)."""
    sleep_mode: bool = True
    """GPU only: release the KV cache and offload the weights to CPU memory after each
    generate call (vLLM sleep level 1), so the trainer's update has the GPU; woken up at
    the next generate or weight sync. Ignored on the CPU, where vLLM has no sleep mode."""

    def validate(self) -> None:
        if not 0.0 < self.gpu_memory_utilization < 1.0:
            raise ConfigError("rollout.vllm.gpu_memory_utilization must be in (0, 1), got "
                              f"{self.gpu_memory_utilization}.")
        if self.cpu_kv_cache_gib <= 0:
            raise ConfigError("rollout.vllm.cpu_kv_cache_gib must be > 0 (vLLM refuses to "
                              f"start without a KV cache), got {self.cpu_kv_cache_gib}.")
        if self.max_model_len < 0:
            raise ConfigError("rollout.vllm.max_model_len must be >= 0 (0 = the model's "
                              f"limit), got {self.max_model_len}.")
