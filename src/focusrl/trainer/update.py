"""One policy update: several optimiser passes over a rollout batch, in micro-batches.

Each pass accumulates gradients over all micro-batches and takes one optimizer step,
so during pass 0 the policy is still the one that generated the batch: the "old"
log-probs are exactly pass 0's log-probs, detached, with no extra forward pass.
The engine's own log-probs of the same tokens differ from this recompute (kernels,
precision): the gap is logged, and algorithm.tis_cap / mis_threshold correct for it
(algorithms/mismatch.py). Under RLPT, samples whose engine returned no support (vLLM)
get it recomputed here from pass 0's logits (rollout/promising.covering_support).
The LM head is applied in chunks of positions (trainer/token_head.py), so the
(rows, tokens, vocabulary) logits are never held whole.
A non-finite loss or gradient norm skips the step (reported, never applied).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from focusrl.algorithms.config import AlgorithmConfig
from focusrl.algorithms.logprobs import TokenStats
from focusrl.algorithms.losses import LOSSES, LossInput, token_stats_kwargs
from focusrl.algorithms.mismatch import mismatch_weights
from focusrl.trainer.batching import TrainBatch
from focusrl.trainer.token_head import Forward


@dataclass
class UpdateResult:
    metrics: dict[str, float] = field(default_factory=dict)
    skipped_steps: int = 0


def policy_token_stats(fwd: Forward, batch: TrainBatch, algo: AlgorithmConfig) -> TokenStats:
    """Log-probs (and what the loss needs besides) of the taken tokens, restricted to the
    RLPT support when the batch has one. The entropy always comes back for logging; it
    carries gradient only when the loss uses it."""
    st = fwd.token_stats(batch.tokens, batch.support, **token_stats_kwargs(algo))
    valid = batch.mask > 0
    st.logp = torch.where(valid, st.logp, torch.zeros_like(st.logp))
    return st


def policy_update(
    model: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    batch: TrainBatch,
    algo: AlgorithmConfig,
    *,
    passes: int,
    micro_batch_samples: int,
    grad_clip: float,
    temperature: float,
    max_length: int,
    ref_model: Any = None,
    generator: torch.Generator | None = None,
    shared_prefix: bool = False,
    compute_dtype: torch.dtype | None = None,
    chunk_tokens: int = 1024,
    normalizers: tuple[float, float] | None = None,
    grad_sync: Callable[[Any, bool], bool] | None = None,
    lockstep: bool = False,
) -> UpdateResult:
    """`passes` optimizer steps over `batch`. `chunk_tokens`: positions per LM-head chunk
    (trainer/token_head.py; 0 = materialise the full logits). `normalizers` (tokens,
    sequences) and `grad_sync` serve data-parallel ranks (distributed/data_parallel.py):
    the loss is normalised by the whole batch's counts, and grad_sync(model, finite)
    all-reduces the gradients and the finite flag before clipping. `lockstep` (FSDP ranks,
    whose every forward and backward is a collective) runs every micro-batch even after
    a non-finite loss; the step is skipped all the same."""
    loss_fn = LOSSES[algo.loss]
    result = UpdateResult()
    num_tokens = batch.num_tokens
    num_seqs = float((batch.mask.sum(-1) > 0).sum())
    if normalizers is not None:
        num_tokens, num_seqs = normalizers
    if num_tokens == 0:
        result.metrics["empty_batch"] = 1.0
        return result
    chunks = [(s, min(s + micro_batch_samples, len(batch)))
              for s in range(0, len(batch), micro_batch_samples)]
    old_logps: list[torch.Tensor] = []
    ref_logps: list[torch.Tensor | None] = []
    weights: list[torch.Tensor | None] = []
    supports: list[torch.Tensor | None] = []
    recompute_support = algo.rlpt.enabled and batch.support is None
    sums: dict[str, float] = {}
    maxima: dict[str, float] = {}
    model.train()
    for pass_idx in range(passes):
        optimizer.zero_grad(set_to_none=True)
        loss_total = 0.0
        finite = True
        for c, (start, end) in enumerate(chunks):
            mb = batch.slice(start, end)
            fwd = Forward(model, mb, temperature, shared_prefix, compute_dtype, chunk_tokens)
            if recompute_support:
                if pass_idx == 0:
                    sup, missed = fwd.covering_support(mb.tokens, algo.rlpt.k, algo.rlpt.top_p,
                                                       algo.rlpt.max_k)
                    supports.append(sup)
                    _add(sums, "rlpt_support_miss", float((missed * mb.mask).sum()))
                mb.support = supports[c]
            st = policy_token_stats(fwd, mb, algo)
            del fwd
            logp, entropy = st.logp, st.entropy
            if pass_idx == 0:
                old_logps.append(logp.detach())
                ref_logps.append(_ref_logp(ref_model, mb, temperature, shared_prefix,
                                           compute_dtype, chunk_tokens) if ref_model else None)
                with torch.no_grad():
                    m = mb.mask
                    _add(sums, "entropy", float((entropy * m).sum()))
                    _add(sums, "logp_mismatch", float(((logp - mb.sampler_logp).abs() * m).sum()))
                    weight, stats = mismatch_weights(logp, mb.sampler_logp, m, algo.tis_cap,
                                                     algo.mis_threshold)
                weights.append(weight)
                maxima["is_weight_max"] = max(maxima.get("is_weight_max", 0.0),
                                              stats.pop("is_weight_max"))
                for key, val in stats.items():
                    _add(sums, key, val)
            inp = LossInput(
                logp=logp, old_logp=old_logps[c], advantages=mb.advantages, mask=mb.mask,
                num_tokens=num_tokens, num_sequences=num_seqs, max_length=max_length,
                ref_logp=ref_logps[c], entropy=entropy, proxy_logp=st.proxy_logp,
                generator=generator, token_weight=weights[c],
            )
            out = loss_fn(inp, algo)
            if not torch.isfinite(out.loss):
                finite = False
                if not lockstep:
                    break
            out.loss.backward()
            loss_total += out.loss.detach().item()
            if pass_idx == 0:
                for key, val in out.metrics.items():
                    if key == "entropy":
                        continue  # the trainer's own entropy sum (above) is logged
                    sums[key] = sums.get(key, 0.0) + float(val)
        if grad_sync is not None:
            finite = grad_sync(model, finite)
        grad_norm = _clip(model, grad_clip)
        if not finite or not math.isfinite(grad_norm):
            optimizer.zero_grad(set_to_none=True)
            result.skipped_steps += 1
            continue
        optimizer.step()
        scheduler.step()
        result.metrics["loss"] = loss_total
        result.metrics["grad_norm"] = grad_norm
    optimizer.zero_grad(set_to_none=True)
    mis_masked = sums.pop("mis_masked", 0.0)
    for key, val in sums.items():
        result.metrics[key] = val / num_tokens
    result.metrics["is_weight_mean"] = result.metrics.pop("is_weight", 1.0)
    result.metrics["tis_clipped_frac"] = result.metrics.pop("tis_clipped", 0.0)
    result.metrics["mis_masked_frac"] = mis_masked / max(num_seqs, 1.0)
    result.metrics.update(maxima)
    result.metrics["skipped_updates"] = float(result.skipped_steps)
    return result


def _add(sums: dict[str, float], key: str, value: float) -> None:
    sums[key] = sums.get(key, 0.0) + value


@torch.no_grad()
def _ref_logp(ref_model: Any, mb: TrainBatch, temperature: float, shared_prefix: bool,
              compute_dtype: torch.dtype | None, chunk_tokens: int) -> torch.Tensor:
    fwd = Forward(ref_model, mb, temperature, shared_prefix, compute_dtype, chunk_tokens)
    logp = fwd.token_stats(mb.tokens, mb.support).logp
    return torch.where(mb.mask > 0, logp, torch.zeros_like(logp))


def _clip(model: Any, max_norm: float) -> float:
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return 0.0
    if max_norm > 0 or hasattr(params[0].grad, "full_tensor"):  # FSDP: DTensor gradients
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm > 0 else math.inf)
        return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
    return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])))
