"""Data-parallel trainer ranks with torch.distributed (gloo on the CPU, NCCL on GPUs).

Rank 0 is the process running `train()`: it generates, scores, computes advantages,
logs and checkpoints. resources.trainer_procs - 1 helper processes each hold a replica of
the policy, the reference model and the optimizer. Per update, rank 0 broadcasts the
batch; every rank takes its contiguous share of the samples and runs the ordinary
`policy_update` on it with
- the loss normalisers (tokens, sequences) of the *whole* batch, so each rank's loss is
  its share of the single-process loss, and
- an all-reduce (sum) of the gradients and of the finite flag before clipping, so every
  rank clips the same global gradient and takes the same optimizer step.
The distributed update therefore equals the single-process update of the same batch up to
float summation order (tests/distributed/test_data_parallel.py states the tolerance).
Metrics that are sums over tokens or sequences are summed over ranks; maxima maxed.

resources.trainer_sharding picks how the ranks hold the policy: `replicate` (DDP-style,
the above) or `fsdp` (FSDP2 `fully_shard`, distributed/fsdp.py: every rank trains a
sharded copy, FSDP reduces the gradients, and rank 0's full model receives the gathered
weights and optimizer state after each update). Losses that draw random numbers
(Clip-Cov's random detach) draw them per rank, so those match the single process in
distribution only.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import tempfile
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from focusrl.trainer.batching import TrainBatch
from focusrl.trainer.update import UpdateResult, policy_update

log = logging.getLogger(__name__)

_SAME_ON_EVERY_RANK = ("grad_norm", "skipped_updates", "empty_batch", "loss_scale")


def shard_bounds(num_samples: int, world: int, rank: int) -> tuple[int, int]:
    """Rank `rank`'s contiguous share [start, end) of `num_samples` samples."""
    return (num_samples * rank // world, num_samples * (rank + 1) // world)


def global_normalizers(batch: TrainBatch) -> tuple[float, float]:
    """(valid tokens, sequences with a valid token) of the whole batch."""
    return batch.num_tokens, float((batch.mask.sum(-1) > 0).sum())


def all_reduce_gradients(model: Any, finite: bool) -> bool:
    """Sum every gradient over the ranks (one flat buffer) and AND the finite flags."""
    params = [p for p in model.parameters() if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads] + [
        torch.tensor([0.0 if finite else 1.0], dtype=grads[0].dtype, device=grads[0].device)])
    dist.all_reduce(flat)
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset:offset + n].view_as(g).clone()
        offset += n
    return bool(flat[-1] == 0)


def _shard_update(model: Any, opt: Any, sched: Any, batch: TrainBatch, algo: Any,
                  rank: int, world: int, ref_model: Any, generator: Any,
                  kwargs: dict[str, Any], fsdp: bool = False) -> dict[str, float]:
    start, end = shard_bounds(len(batch), world, rank)
    sync: Any = all_reduce_gradients
    if fsdp:  # every rank the same number of micro-batches; FSDP reduces the gradients
        from focusrl.distributed.fsdp import lockstep_micro_batch, sum_gradients

        sizes = lockstep_micro_batch([b - a for a, b in (shard_bounds(len(batch), world, r)
                                                         for r in range(world))],
                                     kwargs["micro_batch_samples"])
        kwargs = {**kwargs, "micro_batch_samples": sizes[rank], "lockstep": True}
        sync = sum_gradients(world)
    result = policy_update(model, opt, sched, batch.slice(start, end), algo,
                           ref_model=ref_model, generator=generator,
                           normalizers=global_normalizers(batch), grad_sync=sync, **kwargs)
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, result.metrics)
    return _combine(gathered)


def _combine(per_rank: list[dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key in per_rank[0]:
        vals = [m.get(key, 0.0) for m in per_rank]
        if key in _SAME_ON_EVERY_RANK or key == "lr":
            out[key] = vals[0]
        elif key.endswith("_max"):
            out[key] = max(vals)
        else:
            out[key] = sum(vals)
    return out


def _rendezvous() -> str:
    """A file store in a fresh temporary directory: the ranks are local processes, and a
    TCP store's server would listen on every network interface (gloo's own sockets stay
    on 127.0.0.1, the init address)."""
    return "file://" + os.path.join(tempfile.mkdtemp(prefix="focusrl-ranks-"), "store")


def _backend(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


class DataParallelUpdate:
    """Called like `policy_update`; runs it on resources.trainer_procs ranks."""

    def __init__(self, cfg: Any, device: torch.device) -> None:
        self.world = cfg.resources.trainer_procs
        self._init = _rendezvous()
        ctx = mp.get_context("spawn")
        self._procs = [ctx.Process(target=_helper_main,
                                   args=(rank, self.world, self._init, cfg), daemon=True)
                       for rank in range(1, self.world)]
        for p in self._procs:
            p.start()
        dist.init_process_group(_backend(device), init_method=self._init, rank=0,
                                world_size=self.world)
        self._synced_optimizer: Any = None
        self._cfg, self._fsdp = cfg, cfg.resources.trainer_sharding == "fsdp"
        self._shard: Any = None  # fsdp: rank 0's sharded training copy, optimizer, schedule

    def __call__(self, model: Any, optimizer: Any, scheduler: Any, batch: TrainBatch,
                 algo: Any, *, ref_model: Any = None, generator: Any = None,
                 **kwargs: Any) -> UpdateResult:
        if len(batch) < self.world:
            raise RuntimeError(
                f"a batch of {len(batch)} samples cannot be shared by "
                f"resources.trainer_procs={self.world} ranks: lower trainer_procs or raise "
                "rollout.prompts_per_step x samples_per_prompt.")
        if self._fsdp:  # imported only when used (torch.distributed.checkpoint: ~1 s)
            from focusrl.distributed.fsdp import copy_into, full_optimizer_state, gather_full
        if optimizer is not self._synced_optimizer:  # a train() start: initial, warm-started
            optim = (full_optimizer_state(model, optimizer) if self._fsdp  # or resumed
                     else optimizer.state_dict())
            state = ("state", model.state_dict(), optim, scheduler.state_dict())
            _broadcast(state)
            if self._fsdp:
                self._shard = _load_shard(self._cfg, self._shard, model, state)
            self._synced_optimizer = optimizer
        _broadcast(("update", batch, algo, ref_model is not None, kwargs))
        if not self._fsdp:
            metrics = _shard_update(model, optimizer, scheduler, batch, algo, 0, self.world,
                                    ref_model, generator, kwargs)
            return UpdateResult(metrics, int(metrics.get("skipped_updates", 0.0)))
        shard, shard_opt, shard_sched = self._shard
        metrics = _shard_update(shard, shard_opt, shard_sched, batch, algo, 0, self.world,
                                ref_model, generator, kwargs, fsdp=True)
        copy_into(model, optimizer, *gather_full(shard, shard_opt))  # weight sync, checkpoints
        scheduler.load_state_dict(shard_sched.state_dict())
        return UpdateResult(metrics, int(metrics.get("skipped_updates", 0.0)))

    def close(self) -> None:
        if not dist.is_initialized():
            return
        _broadcast(("stop",))
        for p in self._procs:
            p.join(timeout=60)
        self._shard = None  # FSDP's device mesh holds the process group
        dist.destroy_process_group()
        shutil.rmtree(os.path.dirname(self._init[len("file://"):]), ignore_errors=True)


def _broadcast(message: tuple) -> Any:
    box = [message]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _helper_main(rank: int, world: int, init: str, cfg: Any) -> None:
    """A helper rank: a policy replica that follows rank 0's commands until 'stop'."""
    from focusrl.models.loading import resolve_device
    from focusrl.trainer.components import build_model
    from focusrl.trainer.optim import build_rl_optimizer

    torch.set_num_threads(max(1, cfg.threads))
    device = resolve_device(cfg.model.device)
    if device.type == "cuda":
        device = torch.device("cuda", rank % torch.cuda.device_count())
    dist.init_process_group(_backend(device), init_method=init, rank=rank, world_size=world)
    model, _ = build_model(cfg)
    model.to(device)
    ref_model = copy.deepcopy(model).eval()  # the initial policy, as on rank 0
    opt, sched = build_rl_optimizer(cfg, model)
    generator = torch.Generator(device=device).manual_seed(cfg.seed + 1 + rank)
    fsdp, shard = cfg.resources.trainer_sharding == "fsdp", None
    while True:
        msg = _broadcast((None,))
        if msg[0] == "stop":
            break
        if msg[0] == "state" and fsdp:
            shard = _load_shard(cfg, shard, model, msg)
        elif msg[0] == "state":
            model.load_state_dict(msg[1])
            opt.load_state_dict(msg[2])
            sched.load_state_dict(msg[3])
        elif fsdp:
            from focusrl.distributed.fsdp import gather_full

            _, batch, algo, use_ref, kwargs = msg
            _shard_update(*shard, batch, algo, rank, world, ref_model if use_ref else None,
                          generator, kwargs, fsdp=True)
            gather_full(shard[0], shard[1])  # rank 0 keeps the full weights (a collective)
        else:
            _, batch, algo, use_ref, kwargs = msg
            _shard_update(model, opt, sched, batch, algo, rank, world,
                          ref_model if use_ref else None, generator, kwargs)
    dist.destroy_process_group()


def _load_shard(cfg: Any, shard: Any, model: Any, msg: tuple) -> tuple[Any, Any, Any]:
    """fsdp: (sharded copy, its optimizer, its schedule) holding the broadcast full state;
    the copy is sharded once, the optimizer rebuilt at each train() start."""
    from focusrl.distributed.fsdp import load_full_state, shard_model
    from focusrl.trainer.optim import build_rl_optimizer

    _, model_state, optim_state, sched_state = msg
    if shard is None:
        model.load_state_dict(model_state)
        sharded = shard_model(copy.deepcopy(model))
    else:
        sharded = shard[0]
    opt, sched = build_rl_optimizer(cfg, sharded)
    load_full_state(sharded, opt, model_state, optim_state)
    sched.load_state_dict(sched_state)
    return sharded, opt, sched


def build_policy_update(cfg: Any, device: torch.device) -> Any:
    """`policy_update` itself (one trainer process) or a DataParallelUpdate."""
    if cfg.resources.trainer_procs <= 1:
        return policy_update
    return DataParallelUpdate(cfg, device)
