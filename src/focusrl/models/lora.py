"""LoRA RL through peft: only low-rank adapters train; the base weights stay frozen.

`model.lora.enabled` wraps the policy with `peft.get_peft_model` after the frozen
reference (KL, RLPT source=reference) is taken, so the reference is the base model.
The optimizer sees only the adapter parameters (the only ones requiring grad), a
checkpoint stores only the adapter (peft's `save_pretrained`), and resume loads it back
into the rebuilt base. The lean decoding and shared-prefix paths (models/lean.py) read
raw projection weights, so they step aside for a LoRA-wrapped model (any projection that
is not a plain `nn.Linear`) and the transformers forward runs instead: correct, slower.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class LoRAConfig:
    """Low-rank adapters (LoRA, arXiv 2106.09685) through peft."""

    enabled: bool = False
    """Train LoRA adapters instead of the full model (pip install 'focusrl[lora]')."""
    r: int = 16
    """Adapter rank."""
    alpha: float = 32.0
    """Scale: the adapter's update is multiplied by alpha / r."""
    dropout: float = 0.0
    """Dropout on the adapter's input."""
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    """Module names to adapt (peft's target_modules); 'all-linear' adapts every linear
    layer but the output head."""

    def validate(self) -> None:
        from focusrl.configtools import ConfigError

        if self.r < 1:
            raise ConfigError(f"model.lora.r must be >= 1, got {self.r}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.lora.dropout must be in [0, 1), got {self.dropout}.")


def apply_lora(model: Any, cfg: LoRAConfig) -> Any:
    """`model` wrapped with trainable adapters (peft); its own weights frozen."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as e:
        from focusrl.configtools import ConfigError

        raise ConfigError("model.lora.enabled=true needs peft, which is not installed: "
                          "pip install 'focusrl[lora]'.") from e
    target = cfg.target_modules[0] if cfg.target_modules == ["all-linear"] else cfg.target_modules
    return get_peft_model(model, LoraConfig(r=cfg.r, lora_alpha=cfg.alpha,
                                            lora_dropout=cfg.dropout, target_modules=target,
                                            task_type="CAUSAL_LM"))


def is_lora(model: Any) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "get_base_model")


def unwrap(model: Any) -> Any:
    """The transformers model inside a peft wrapper (adapters injected), else `model`."""
    return model.get_base_model() if is_lora(model) else model


def load_adapter(model: Any, model_dir: Path) -> None:
    """Load adapter weights saved by peft's `save_pretrained` into a wrapped model."""
    from peft import set_peft_model_state_dict
    from peft.utils import load_peft_weights

    set_peft_model_state_dict(model, load_peft_weights(str(model_dir)))
