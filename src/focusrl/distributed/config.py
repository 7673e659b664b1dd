"""`resources`: where a run's parts execute. The default is one process, without Ray.

The same config file runs on a laptop, a GPU box or a Ray cluster: only this section
changes. `rollout_workers: 0` keeps the engine inside the trainer process (no Ray import).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from focusrl.configtools import ConfigError


@dataclass
class ResourcesConfig:
    """Placement: rollout workers (Ray actors), their devices, and the Ray cluster."""

    rollout_workers: int = 0
    """Ray actors that each run the engine rollout.engine names on their own copy of the
    policy; 0 runs the engine inside the trainer process (no Ray, the default)."""
    rollout_worker_cpus: float = 1.0
    """CPUs Ray reserves for each rollout worker."""
    rollout_worker_gpus: float = 0.0
    """GPUs Ray reserves for each rollout worker (fractions share a GPU)."""
    rollout_worker_threads: int = 1
    """torch CPU threads inside each rollout worker."""
    rollout_worker_calls: int = 4
    """Calls one rollout worker serves at once (a threaded Ray actor): the chunks of
    several batches in flight (asynchronous mode) generate side by side, as on an
    inference server, and a weight load waits for the running ones (workers.py)."""
    rollout_worker_copies: int = 0
    """Copies of the policy (each with its engine) in each rollout worker; 0 = one more
    than rollout.max_staleness. 1 loads new weights in place, after the running
    generations; 2 or more load into an idle copy while generations on the previous
    version go on, so in asynchronous mode batches of consecutive versions overlap
    (distributed/weight_slots.py). Each copy costs a model (and an engine)."""
    trainer_procs: int = 1
    """Data-parallel trainer processes (torch.distributed: gloo on the CPU, NCCL on GPUs);
    1 trains in this process. Each holds a replica of the policy; the loss is normalised
    over the whole batch, so the update equals the single-process one."""
    reward_workers: int = 0
    """Ray actors that score rewards (distributed/reward_workers.py); 0 scores in the
    trainer process. Parts that use the trainer's policy cannot run there."""
    reward_worker_cpus: float = 0.0
    """CPUs Ray reserves for each reward worker (0: they share the cluster's CPUs; raise it
    for CPU-heavy rewards)."""
    reward_worker_timeout_s: float = 300.0
    """A reward worker that returns nothing within this many seconds is killed and
    replaced; its samples get rewards.fallback_reward, counted per part."""
    trainer_sharding: str = "replicate"
    """How trainer_procs > 1 ranks hold the policy: 'replicate' (each a full copy,
    gradients all-reduced) or 'fsdp' (FSDP2 fully_shard: parameters, gradients and
    optimizer state sharded over the ranks; distributed/fsdp.py says what rank 0 still
    holds in full)."""
    ray_address: str = "local"
    """'local' starts a private Ray instance on this machine, every socket on 127.0.0.1;
    anything else is passed to ray.init(address=...) to join an existing cluster."""
    ray_cpus: int = 0
    """CPUs the private local Ray instance offers (0 = the rollout workers' total)."""
    max_worker_restarts: int = 3
    """A rollout worker that dies is restarted and its requests re-issued at most this
    many times per run; beyond that the run stops with an error."""

    def validate(self) -> None:
        if self.rollout_workers < 0:
            raise ConfigError(f"resources.rollout_workers must be >= 0, got "
                              f"{self.rollout_workers}.")
        if self.rollout_worker_cpus < 0 or self.rollout_worker_gpus < 0:
            raise ConfigError("resources.rollout_worker_cpus and rollout_worker_gpus must be "
                              ">= 0.")
        if self.rollout_worker_threads < 1:
            raise ConfigError("resources.rollout_worker_threads must be >= 1.")
        if self.rollout_worker_calls < 1:
            raise ConfigError("resources.rollout_worker_calls must be >= 1 (calls a rollout "
                              f"worker serves at once), got {self.rollout_worker_calls}.")
        if self.rollout_worker_copies < 0:
            raise ConfigError("resources.rollout_worker_copies must be >= 0 (policy copies "
                              "per rollout worker; 0 = rollout.max_staleness + 1), got "
                              f"{self.rollout_worker_copies}.")
        if self.trainer_sharding not in ("replicate", "fsdp"):
            raise ConfigError("resources.trainer_sharding must be 'replicate' or 'fsdp', got "
                              f"{self.trainer_sharding!r}.")
        if self.trainer_procs < 1:
            raise ConfigError(f"resources.trainer_procs must be >= 1, got {self.trainer_procs}.")
        if self.reward_workers < 0 or self.reward_worker_cpus < 0:
            raise ConfigError("resources.reward_workers and reward_worker_cpus must be >= 0.")
        if self.reward_worker_timeout_s <= 0:
            raise ConfigError("resources.reward_worker_timeout_s must be > 0 (seconds before a "
                              f"silent reward worker is replaced), got "
                              f"{self.reward_worker_timeout_s}.")
        if self.max_worker_restarts < 0:
            raise ConfigError("resources.max_worker_restarts must be >= 0.")

    @property
    def uses_ray(self) -> bool:
        return self.rollout_workers > 0


def check_async_settings(cfg: Any) -> None:
    """Cross-section checks for asynchronous RL (rollout.max_staleness > 0)."""
    k = cfg.rollout.max_staleness
    if k == 0:
        return
    if not cfg.resources.uses_ray:
        raise ConfigError(
            f"rollout.max_staleness={k} (asynchronous RL) generates in separate rollout "
            "workers while the trainer updates: set resources.rollout_workers >= 1, or "
            "rollout.max_staleness=0 for synchronous RL in one process.")
    if cfg.algorithm.tis_cap <= 0:
        raise ConfigError(
            f"rollout.max_staleness={k}: stale samples need the behaviour policy's "
            "importance weight (decoupled PPO; docs/algorithms.md), which algorithm.tis_cap "
            "applies: set algorithm.tis_cap (e.g. 2).")
    if cfg.curriculum.kind in ("edco", "perplexity"):
        raise ConfigError(
            f"curriculum.kind={cfg.curriculum.kind} scores prompts with the trainer's model, "
            "which changes while asynchronous rollout picks prompts: use it with "
            "rollout.max_staleness=0.")


def check_lora_placement(cfg: Any) -> None:
    """LoRA (model.lora) runs with the engine in the trainer process (HF, or vLLM with the
    adapter pushed at each sync) and one replicated trainer. Ray rollout workers load full
    weights into a model without adapters, and FSDP has not been tested with peft."""
    if not cfg.model.lora.enabled:
        return
    if cfg.resources.rollout_workers > 0:
        raise ConfigError(
            "model.lora.enabled=true with resources.rollout_workers="
            f"{cfg.resources.rollout_workers}: Ray rollout workers take full weights and hold "
            "no adapters yet. Use resources.rollout_workers=0 (rollout.engine=vllm pushes only "
            "the adapter), or train the full model.")
    if cfg.resources.trainer_sharding == "fsdp":
        raise ConfigError(
            "model.lora.enabled=true with resources.trainer_sharding=fsdp is not supported "
            "yet (peft inside fully_shard is untested): use trainer_sharding=replicate; the "
            "frozen base weights need no optimizer state, so LoRA rarely needs sharding.")
