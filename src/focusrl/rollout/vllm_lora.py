"""LoRA into vLLM: the engine holds the frozen base model, and each weight sync pushes only
the adapter (model.lora.enabled with rollout.engine=vllm).

- Start: the base weights are written once under their Hugging Face names (peft's
  `base_layer` wrapping undone, the adapter tensors left out) and vLLM starts with
  `enable_lora` (rank slots: the smallest vLLM rank >= model.lora.r; one adapter slot).
- Sync: the adapter is saved with peft's `save_pretrained` (adapter_config.json and
  adapter_model.safetensors, only the lora_A/lora_B tensors) into a fresh directory and
  loaded with `LLMEngine.add_lora(LoRARequest(...))` under a new integer id per policy
  version; the previous version's adapter is then removed from the engine and its
  directory deleted. Generation passes the current `LoRARequest`.
- Why a directory and not tensors in memory: vLLM 0.32 loads adapters only from a path
  (`LoRARequest.lora_path`, read by its worker's `_load_adapter`). The file is the
  adapter alone (~0.1-1% of the model at the usual ranks), written to the local disk.
- vLLM on the CPU runs LoRA without compilation (its CPU platform turns torch.compile off
  when LoRA is on), as focusrl's CPU engine already does (`enforce_eager`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from focusrl.configtools import ConfigError

VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vllm.config.lora.MaxLoRARanks


def base_state_dict(model: Any) -> dict[str, torch.Tensor]:
    """The base model's weights under Hugging Face names, from a peft-wrapped model."""
    out = {}
    for name, t in model.get_base_model().state_dict().items():
        if "lora_" in name:
            continue
        out[name.replace(".base_layer.", ".")] = t
    return out


def lora_engine_kwargs(model: Any) -> dict[str, Any]:
    """`vllm.LLM` arguments that make room for one adapter of `model`'s rank."""
    cfg = next(iter(model.peft_config.values()))
    rank = next((r for r in VLLM_LORA_RANKS if r >= cfg.r), None)
    if rank is None:
        raise ConfigError(f"model.lora.r={cfg.r} is above vLLM's largest LoRA rank "
                          f"{VLLM_LORA_RANKS[-1]}: lower it, or use rollout.engine=hf.")
    return {"enable_lora": True, "max_lora_rank": rank, "max_loras": 1, "max_cpu_loras": 1}


class AdapterPusher:
    """Pushes a peft model's adapter into a running in-process `vllm.LLM`."""

    def __init__(self, llm: Any, root: str) -> None:
        self.llm, self.root = llm, root
        self.request: Any = None  # the LoRARequest generation uses
        self._next_id = 1

    def push(self, model: Any, version: int) -> int:
        """Save the adapter, load it as a new adapter id, drop the previous one; returns the
        bytes of the adapter tensors pushed."""
        from peft import get_peft_model_state_dict
        from vllm.lora.request import LoRARequest

        path = Path(tempfile.mkdtemp(prefix=f"adapter-v{version}-", dir=self.root))
        model.save_pretrained(str(path))
        request = LoRARequest(
            lora_name=f"focusrl-policy-{self._next_id}", lora_int_id=self._next_id,
            lora_path=str(path))
        self._next_id += 1
        engine = self.llm.llm_engine
        engine.add_lora(request)
        old, self.request = self.request, request
        if old is not None:
            engine.remove_lora(old.lora_int_id)
            shutil.rmtree(old.lora_path, ignore_errors=True)
        return sum(t.numel() * t.element_size()
                   for t in get_peft_model_state_dict(model).values())
