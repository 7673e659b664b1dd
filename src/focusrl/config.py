"""The one typed config tree of a focusrl run.

Every field has its docstring right beneath it; `focusrl train --help-config` prints
them. Units are in the names: `prompts_per_step` counts prompts, `samples_per_prompt`
counts responses per prompt, `micro_batch_samples` counts responses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from focusrl.algorithms.config import AlgorithmConfig
from focusrl.configtools import ConfigError, apply_overrides, from_dict, load_yaml, merge_dicts
from focusrl.curriculum.config import CurriculumConfig
from focusrl.data.config import DataConfig
from focusrl.distributed.config import (
    ResourcesConfig,
    check_async_settings,
    check_lora_placement,
)
from focusrl.envs.config import EnvConfig
from focusrl.models.lora import LoRAConfig
from focusrl.report.config import DoctorConfig
from focusrl.report.loggers import validate_loggers
from focusrl.rewards.config import RewardConfig
from focusrl.rollout.config import VLLMConfig


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

    def validate(self) -> None:
        _at_least(1, "model.tiny", hidden_size=self.hidden_size, num_layers=self.num_layers,
                  num_heads=self.num_heads, intermediate_size=self.intermediate_size,
                  max_positions=self.max_positions)
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"model.tiny.hidden_size={self.hidden_size} must be a multiple "
                              f"of model.tiny.num_heads={self.num_heads}.")


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
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    """LoRA adapters (models/lora.py): train only the adapters."""
    trust_remote_code: bool = False
    """Passed to transformers when loading a model with custom code."""
    mixed_precision: Literal["auto", "none", "bf16"] = "auto"
    """'bf16': linear layers compute in bfloat16 (torch.autocast) in training, SFT and
    generation, while parameters, gradients, optimizer state, norms, softmaxes and the loss
    stay float32 (TRL's default). About 2x faster matmuls on CPUs with AVX512-BF16/AMX
    and on GPUs; log-probs move by ~1e-2 (logged as logp_mismatch). Needs
    model.dtype=float32. 'none': everything computes in model.dtype. 'auto': bf16 where
    the hardware computes it natively (CUDA; CPUs with AVX512-BF16 or AMX, detected at run
    time) and model.dtype is float32, else 'none'."""

    def validate(self) -> None:
        if self.mixed_precision == "bf16" and self.dtype != "float32":
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
    vllm: VLLMConfig = field(default_factory=VLLMConfig)
    """The vLLM engine's settings (used when engine=vllm)."""
    max_staleness: int = 0
    """0: synchronous RL (generate, then train, in turn). k > 0: asynchronous RL, rollout
    workers keep generating with weights up to k policy versions older than the trainer's
    (needs resources.rollout_workers >= 1 and an off-policy correction, algorithm.tis_cap;
    docs/algorithms.md "Asynchronous RL"); older samples are dropped and counted."""

    def validate(self) -> None:
        _at_least(1, "rollout", prompts_per_step=self.prompts_per_step,
                  samples_per_prompt=self.samples_per_prompt,
                  max_response_tokens=self.max_response_tokens,
                  batch_samples=self.batch_samples)
        _at_least(0, "rollout", top_k=self.top_k)
        if self.temperature <= 0:
            raise ConfigError(f"rollout.temperature must be > 0, got {self.temperature}.")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"rollout.top_p must be in (0, 1], got {self.top_p}.")
        if self.max_staleness < 0:
            raise ConfigError(f"rollout.max_staleness must be >= 0, got {self.max_staleness}.")


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
        _at_least(0, "optim", warmup_steps=self.warmup_steps, weight_decay=self.weight_decay,
                  grad_clip=self.grad_clip)
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"optim.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}.")


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
    logits_chunk_tokens: int = 1024
    """Positions per LM-head chunk in the update: log-probs, entropies and RLPT supports
    are reduced chunk by chunk (recomputed in the backward), so the (rows, tokens,
    vocabulary) logits are never held whole (trainer/token_head.py). 0 materialises the
    full logits (the old path; same values)."""
    activation_checkpointing: bool = False
    """Recompute each transformer layer's activations in the backward instead of keeping
    them (less memory, about one more forward of time), in the shared-prefix and the
    transformers training forwards (model.gradient_checkpointing_enable)."""
    eval_every: int = 25
    """Evaluate on the held-out prompts every this many steps (0 = only at the end)."""
    eval_samples_per_prompt: int = 0
    """Samples per held-out prompt for pass@k (0 = greedy accuracy only)."""
    eval_temperature: float = 1.0
    """Temperature of the pass@k samples."""
    checkpoint_every: int = 50
    """Write a checkpoint every this many steps (0 = only at the end)."""
    keep_checkpoints: int = 2
    """Keep only the newest this many checkpoints of the run (by step; the one just written
    is always kept); 0 = keep all."""
    progress: bool = True
    """Show a progress bar on stderr."""
    loggers: list[str] = field(default_factory=lambda: ["jsonl"])
    """Where metrics go: jsonl (metrics.jsonl, always on), tensorboard (<run_dir>/tensorboard,
    needs focusrl[tensorboard]), wandb (needs focusrl[wandb]; WANDB_MODE=offline works
    without network). Same metric names in each."""
    wandb_project: str = "focusrl"
    """W&B project of the run (with train.loggers including wandb)."""
    samples_per_eval: int = 4
    """Held-out samples (prompt, response, reward parts) kept per evaluation in
    <run_dir>/samples.jsonl for the report; 0 keeps none."""

    def validate(self) -> None:
        validate_loggers(self.loggers)
        _at_least(1, "train", steps=self.steps, passes_per_batch=self.passes_per_batch,
                  micro_batch_samples=self.micro_batch_samples)
        _at_least(0, "train", eval_every=self.eval_every, checkpoint_every=self.checkpoint_every,
                  keep_checkpoints=self.keep_checkpoints,
                  eval_samples_per_prompt=self.eval_samples_per_prompt,
                  logits_chunk_tokens=self.logits_chunk_tokens)
        if self.eval_temperature <= 0:
            raise ConfigError(f"train.eval_temperature must be > 0, got "
                              f"{self.eval_temperature}.")


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

    def validate(self) -> None:
        _at_least(1, "sft", steps=self.steps, batch_sequences=self.batch_sequences)
        _at_least(0, "sft", warmup_steps=self.warmup_steps, weight_decay=self.weight_decay)
        if self.lr <= 0:
            raise ConfigError(f"sft.lr must be > 0, got {self.lr}.")


@dataclass
class Config:
    """A whole focusrl run."""

    seed: int = 0
    """Seed of model init, sampling and data order."""
    run_dir: str = ""
    """Where the resolved config, metrics.jsonl and checkpoints go; one run per directory.
    Empty: runs/<config file names>-<UTC timestamp> (a new directory per run)."""
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
    doctor: DoctorConfig = field(default_factory=DoctorConfig)
    """The run doctor's rules and thresholds."""
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    """Placement: one process (default), Ray rollout workers, data-parallel trainer ranks."""

    def validate(self) -> None:
        """Checks across sections (each section validates its own fields)."""
        _at_least(0, "", seed=self.seed, threads=self.threads)
        check_async_settings(self)
        check_lora_placement(self)
        if self.algorithm.advantage == "gdpo":
            if self.rewards.combine != "sum":
                raise ConfigError(
                    "algorithm.advantage=gdpo normalises each reward part and sums them by "
                    f"weight, which rewards.combine={self.rewards.combine} does not mean. Set "
                    "rewards.combine=sum, or another algorithm.advantage (e.g. grpo).")
            if not any(p.weight != 0 for p in self.rewards.parts):
                raise ConfigError("algorithm.advantage=gdpo needs a reward part with a "
                                  "non-zero weight in rewards.parts.")


def _at_least(low: int, section: str, **values: float) -> None:
    """ConfigError naming the first `section.key` whose value is below `low`."""
    for key, value in values.items():
        if value < low:
            name = f"{section}.{key}" if section else key
            raise ConfigError(f"{name} must be >= {low}, got {value}.")


def load_config(path: str | Path | Sequence[str | Path] | None = None,
                overrides: list[str] | None = None, name: str | None = None) -> Config:
    """YAML files (none, one or several, later ones override earlier ones, merged key by
    key) + `key.sub=value` overrides -> validated Config. An unset run_dir becomes
    runs/<name>-<timestamp>, name defaulting to the config files' stems joined by '+'."""
    paths = [] if path is None else [path] if isinstance(path, (str, Path)) else list(path)
    data: dict[str, Any] = {}
    for p in paths:
        data = merge_dicts(data, load_yaml(p))
    data = apply_overrides(data, list(overrides or []))
    cfg = from_dict(Config, data)
    if not cfg.run_dir:
        from focusrl.trainer.rundir import default_run_dir

        cfg.run_dir = default_run_dir([name] if name else [Path(p).stem for p in paths])
    return cfg


__all__ = ["Config", "ConfigError", "load_config"]
