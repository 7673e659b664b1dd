"""The one typed config tree of a focusrl run.

Every field has its docstring right beneath it; `focusrl train --help-config` prints
them. Units are in the names: `prompts_per_step` counts prompts, `samples_per_prompt`
counts responses per prompt, `micro_batch_samples` counts responses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from focusrl.algorithms.config import AlgorithmConfig
from focusrl.configtools import ConfigError, apply_overrides, from_dict, load_yaml
from focusrl.curriculum.config import CurriculumConfig
from focusrl.data.config import DataConfig
from focusrl.envs.config import EnvConfig
from focusrl.rewards.config import RewardConfig


@dataclass
class TinyModelConfig:
    """The built-in from-scratch model (Qwen2 architecture, character tokenizer)."""

    hidden_size: int = 128
    """Width of the residual stream."""
    num_layers: int = 4
    """Transformer blocks."""
    num_heads: int = 4
    """Attention heads (also key/value heads)."""
    intermediate_size: int = 384
    """Width of the MLP."""
    max_positions: int = 512
    """Longest sequence (prompt + response) in tokens."""


@dataclass
class ModelConfig:
    """Which policy model to train."""

    path: str = "tiny"
    """A local directory or hub id of a Hugging Face causal LM; 'tiny' builds the built-in
    tiny model from scratch (seeded by the run seed)."""
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)
    """Shape of the built-in tiny model."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Parameter dtype."""
    device: str = "auto"
    """'auto' (cuda when available, else cpu), 'cpu', 'cuda', 'cuda:1', ..."""
    trust_remote_code: bool = False
    """Passed to transformers when loading a model with custom code."""
    mixed_precision: Literal["none", "bf16"] = "none"
    """'bf16': linear layers compute in bfloat16 (torch.autocast) in training, SFT and
    generation, while parameters, gradients, optimizer state, norms, softmaxes and the loss
    stay float32 (TRL's default). About 2x faster matmuls on CPUs with AVX512-BF16/AMX
    and on GPUs; log-probs move by ~1e-2 (logged as logp_mismatch). Needs
    model.dtype=float32. 'none': everything computes in model.dtype."""

    def validate(self) -> None:
        if self.mixed_precision != "none" and self.dtype != "float32":
            raise ConfigError(
                f"model.mixed_precision={self.mixed_precision} keeps float32 parameters and "
                f"computes in bfloat16, but model.dtype={self.dtype}: set model.dtype=float32, "
                "or model.mixed_precision=none to compute in model.dtype.")


@dataclass
class RolloutConfig:
    """How responses are generated."""

    engine: Literal["hf", "vllm"] = "hf"
    """Generation engine (rollout/registry.py): hf (focusrl's decoding loop over the
    trainer's own transformers model, CPU or GPU) or vllm (an in-process vLLM engine that
    gets the new weights after every update; pip install 'focusrl[vllm]')."""
    prompts_per_step: int = 16
    """Prompts per RL step."""
    samples_per_prompt: int = 8
    """Responses per prompt (the GRPO group size)."""
    max_response_tokens: int = 16
    """Generation stops at EOS or after this many tokens."""
    temperature: float = 1.0
    """Sampling temperature (the loss uses the same temperature on the logits)."""
    top_p: float = 1.0
    """Nucleus sampling mass; 1.0 disables it."""
    top_k: int = 0
    """Top-k sampling; 0 disables it."""
    batch_samples: int = 512
    """Most sequences generated in one batched call."""
    ignore_eos: bool = False
    """Generate exactly max_response_tokens per sample (for benchmarks)."""
    lean_decode: bool = True
    """Decode Llama-family models (llama, qwen2, qwen3, mistral) with focusrl's lean
    one-token step (same outputs, less overhead); other models always use the
    transformers forward. false forces the transformers forward."""

    def validate(self) -> None:
        if self.prompts_per_step < 1 or self.samples_per_prompt < 1:
            raise ConfigError("rollout.prompts_per_step and samples_per_prompt must be >= 1.")
        if self.temperature <= 0:
            raise ConfigError(f"rollout.temperature must be > 0, got {self.temperature}.")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"rollout.top_p must be in (0, 1], got {self.top_p}.")
        if self.max_response_tokens < 1:
            raise ConfigError("rollout.max_response_tokens must be >= 1.")


@dataclass
class OptimConfig:
    """AdamW with linear warm-up and cosine (or constant) decay."""

    lr: float = 1e-5
    """Peak learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    beta1: float = 0.9
    """AdamW beta1."""
    beta2: float = 0.99
    """AdamW beta2."""
    eps: float = 1e-8
    """AdamW epsilon."""
    warmup_steps: int = 0
    """Optimizer steps of linear warm-up from 0 to lr."""
    schedule: Literal["cosine", "constant"] = "cosine"
    """Decay after warm-up."""
    min_lr_ratio: float = 0.1
    """Cosine decays to lr * min_lr_ratio."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this; 0 disables clipping."""

    def validate(self) -> None:
        if self.lr <= 0:
            raise ConfigError(f"optim.lr must be > 0, got {self.lr}.")


@dataclass
class TrainConfig:
    """The RL loop."""

    steps: int = 100
    """RL steps (one rollout batch and its updates each)."""
    passes_per_batch: int = 1
    """Optimiser passes over each rollout batch (PPO epochs), one optimizer step each."""
    micro_batch_samples: int = 64
    """Sequences per forward/backward; gradients accumulate over micro-batches."""
    shared_prefix_forward: bool = True
    """Llama-family models (llama, qwen2, qwen3, mistral): forward each distinct prompt of a
    micro-batch once and let its group's responses attend to it (same gradients, fewer
    tokens). Other models, or false: the transformers forward over every row."""
    eval_every: int = 25
    """Evaluate on the held-out prompts every this many steps (0 = only at the end)."""
    eval_samples_per_prompt: int = 0
    """Samples per held-out prompt for pass@k (0 = greedy accuracy only)."""
    eval_temperature: float = 1.0
    """Temperature of the pass@k samples."""
    checkpoint_every: int = 50
    """Write a checkpoint every this many steps (0 = only at the end)."""
    keep_checkpoints: int = 2
    """Keep only the newest this many checkpoints."""
    progress: bool = True
    """Show a progress bar on stderr."""


@dataclass
class SFTConfig:
    """Supervised fine-tuning on (prompt, answer) pairs: the loss is on answer tokens only."""

    steps: int = 300
    """Optimizer steps."""
    batch_sequences: int = 64
    """Sequences per optimizer step."""
    lr: float = 1e-3
    """Peak learning rate (cosine decay with warm-up)."""
    warmup_steps: int = 20
    """Linear warm-up steps."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    response_template: str = "{answer}"
    """Format string of the target response ({answer} is the ground truth)."""


@dataclass
class Config:
    """A whole focusrl run."""

    seed: int = 0
    """Seed of model init, sampling and data order."""
    run_dir: str = "runs/focusrl"
    """Where the resolved config, metrics.jsonl and checkpoints go."""
    threads: int = 0
    """torch CPU threads (0 = torch's default)."""
    cpu_malloc: bool = True
    """Tune glibc malloc so freed tensor memory is reused instead of page-faulted in
    again every step (focusrl/runtime.py; CPU updates ~14% faster). Linux only; false
    keeps the C library's defaults."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The policy model."""
    data: DataConfig = field(default_factory=DataConfig)
    """The prompt source."""
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    """Generation."""
    rewards: RewardConfig = field(default_factory=RewardConfig)
    """Scoring."""
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    """Advantage, loss, KL, entropy, RLPT."""
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    """Prompt selection."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimizer for RL."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """The RL loop."""
    sft: SFTConfig = field(default_factory=SFTConfig)
    """The SFT trainer."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """Multi-turn episodes in a text environment (empty env.name = single-turn)."""


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """YAML file (optional) + `key.sub=value` overrides -> validated Config."""
    data = load_yaml(path) if path else {}
    data = apply_overrides(data, list(overrides or []))
    return from_dict(Config, data)


__all__ = ["Config", "ConfigError", "load_config"]
