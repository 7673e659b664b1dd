"""FSDP2 (`torch.distributed.fsdp.fully_shard`) for the data-parallel trainer ranks
(resources.trainer_sharding: fsdp).

Every rank, rank 0 included, trains a sharded copy of the policy: each decoder layer
(every item of an `nn.ModuleList`) and the root are `fully_shard`-ed, so a rank holds
1/N of the parameters, gradients and Adam moments, and all-gathers a layer's weights
only while it runs. The optimizer and schedule are built over the sharded copy.

Rank 0 keeps the ordinary, full model for what is not training (generation with the
in-process engine, evaluation, weight sync to the rollout workers, checkpoints): after
every update the ranks gather the full parameters (`get_model_state_dict(...,
full_state_dict=True)`, i.e. the DTensors' `full_tensor()`) and the full optimizer
state, and rank 0 loads both into its model and the trainer's optimizer, so weight sync
and checkpoints see plain tensors, and `--resume` loads them back into the shards.

The update runs the model's own forward (the root module gathers the embeddings and the
tied head), so the sharded copy computes the full logits rather than the chunked LM
head of trainer/token_head.py.

Departures, stated: the memory saving is on the sharded training copies; rank 0 still
holds one full copy of the weights, and the full optimizer state once per update (for
checkpoints) — a model too large for one device needs generation on rollout workers and
a sharded checkpoint format, which are not built. Gloo has no PREMUL_SUM, so FSDP's
gradient reduction averages over ranks; the gradients are multiplied by the world size
afterwards to give the sum the global loss normalisers need (exact up to rounding).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def shard_model(model: torch.nn.Module) -> torch.nn.Module:
    """`fully_shard` every layer of every ModuleList, then the root (in place)."""
    from torch.distributed.fsdp import fully_shard

    for module in list(model.modules()):
        if isinstance(module, torch.nn.ModuleList):
            for layer in module:
                fully_shard(layer)
    fully_shard(model)
    model._focusrl_fsdp = True  # the update runs the root forward (trainer/batching.lm_head)
    return model


def full_optimizer_state(model: torch.nn.Module, optimizer: Any) -> dict[str, Any]:
    """The optimizer state keyed by parameter name, full tensors (a collective for a
    sharded model: every rank calls it). An optimizer that has not stepped yet gives an
    empty state: torch's getter would initialise it by a zero-gradient step, which
    counts as a step in Adam's bias correction."""
    if not optimizer.state:
        return {"state": {}, "param_groups": []}
    return get_optimizer_state_dict(model, optimizer, options=FULL)


def load_full_state(model: torch.nn.Module, optimizer: Any, model_state: dict[str, Any],
                    optim_state: dict[str, Any]) -> None:
    """Load full (unsharded) model and optimizer state into a sharded copy: each rank
    keeps its shard."""
    set_model_state_dict(model, model_state, options=StateDictOptions(full_state_dict=True))
    if optim_state.get("state"):
        set_optimizer_state_dict(model, optimizer, optim_state,
                                 options=StateDictOptions(full_state_dict=True))


def gather_full(shard: torch.nn.Module, shard_opt: Any) -> tuple[dict[str, Any],
                                                                  dict[str, Any]]:
    """Full parameters and optimizer state of the sharded copy (a collective)."""
    return get_model_state_dict(shard, options=FULL), full_optimizer_state(shard, shard_opt)


def copy_into(model: torch.nn.Module, optimizer: Any, model_state: dict[str, Any],
              optim_state: dict[str, Any]) -> None:
    """Rank 0: the gathered weights and optimizer state into the full model and the
    trainer's optimizer (what generation, weight sync and checkpoints read)."""
    model.load_state_dict(model_state)
    if optim_state.get("state"):
        set_optimizer_state_dict(model, optimizer, optim_state,
                                 options=StateDictOptions(full_state_dict=True))


def sum_gradients(world: int) -> Any:
    """grad_sync for policy_update: FSDP already reduced (averaged) the gradient shards;
    scale them to the sum and agree on the finite flag."""
    def sync(model: torch.nn.Module, finite: bool) -> bool:
        for p in model.parameters():
            if p.grad is not None:
                p.grad.mul_(world)
        flag = torch.tensor([0.0 if finite else 1.0])
        dist.all_reduce(flag)
        return bool(flag[0] == 0)
    return sync


def lockstep_micro_batch(num_samples: list[int], micro_batch_samples: int) -> list[int]:
    """Per-rank micro-batch sizes that give every rank the same number of micro-batches
    (each forward and backward is a collective under FSDP: unequal counts would hang)."""
    count = math.ceil(max(num_samples) / micro_batch_samples)
    sizes = [max(1, math.ceil(n / count)) for n in num_samples]
    if any(math.ceil(n / s) != count for n, s in zip(num_samples, sizes)):
        raise RuntimeError(
            f"resources.trainer_sharding=fsdp: rank shares of {num_samples} samples cannot "
            f"all be cut into {count} micro-batches; raise train.micro_batch_samples or use "
            "a batch size divisible by resources.trainer_procs.")
    return sizes
