"""Lean forward paths for Llama-family models, over the model's own weights.

Two paths, both exact re-implementations of the transformers forward (same arithmetic,
same weights; tests/trainer/test_lean.py checks them against transformers):

- `LeanDecoder`, the one-token decoding step. On small models a decoding step is
  dominated by framework overhead, not arithmetic: a transformers forward for one new
  token runs ~60 tensor ops per layer plus mask building and cache plumbing, and its
  DynamicCache copies the whole cache per token. `LeanDecoder.step` runs ~25 ops on a
  preallocated KV buffer, with the q/k/v and gate/up projections fused into one matmul
  each (for models small enough that the fused weight copy is negligible). The prefill
  still runs through transformers. Tested: identical sampled tokens.
- `shared_prefix_hidden`, the training forward that computes each distinct prompt of a
  micro-batch once for its whole GRPO group (Prefix-Grouper style); it returns the final
  hidden states, and the LM head is applied by the caller (in chunks:
  trainer/token_head.py). Tested: the same logits and parameter gradients to 1e-5.

Measured effect: docs/benchmarks.md, "focusrl vs TRL" (`benchmarks/lean_paths.py`).

Scope: decoder-only models whose layers are Llama-style (pre-RMSNorm, rotary q/k,
full causal attention with optional GQA, gated MLP): `llama`, `qwen2`, `qwen3` (q/k
norms), `mistral`. For anything else (other model types, sliding-window layers,
Llama's `pretraining_tp > 1`, attention dropout in training, an unexpected module
layout) `llama_layers` returns None and the callers keep the transformers forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from focusrl.models.precision import full_precision

SUPPORTED_TYPES = ("llama", "qwen2", "qwen3", "mistral")
FUSE_MAX_PARAMS = 200_000_000
"""Fuse q/k/v and gate/up weights (one copy per generate call) only below this size."""


@dataclass
class _Layer:
    in_norm: torch.nn.Module
    post_norm: torch.nn.Module
    q_norm: torch.nn.Module | None
    k_norm: torch.nn.Module | None
    qkv: list[tuple[torch.Tensor, torch.Tensor | None]]  # fused: one entry; else q, k, v
    o: torch.nn.Module
    gate_up: list[tuple[torch.Tensor, torch.Tensor | None]]  # fused: one entry; else gate, up
    down: torch.nn.Module
    act: Any


def rms(norm: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Llama/Qwen RMSNorm, computed in float32 like the reference modules. In float32 it
    is PyTorch's fused kernel (bitwise the same result, fewer passes over memory)."""
    eps = getattr(norm, "variance_epsilon", None) or getattr(norm, "eps", 1e-6)
    if x.dtype == torch.float32 and norm.weight.dtype == torch.float32:
        return F.rms_norm(x, x.shape[-1:], norm.weight, eps)
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return norm.weight * h.to(x.dtype)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding as transformers applies it: x * cos + rotate_half(x) * sin."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


def attention_dims(model: Any) -> tuple[tuple[int, int, int], float]:
    """((query heads, key/value heads, head dim), attention scaling) of a Llama-family model."""
    cfg = model.config
    nq = cfg.num_attention_heads
    nk = getattr(cfg, "num_key_value_heads", None) or nq
    hd = getattr(cfg, "head_dim", None) or cfg.hidden_size // nq
    return (nq, nk, hd), getattr(model.model.layers[0].self_attn, "scaling", hd ** -0.5)


def _layer_types_ok(cfg: Any) -> bool:
    types = getattr(cfg, "layer_types", None)
    if types and any(t != "full_attention" for t in types):
        return False
    if getattr(cfg, "use_sliding_window", False):
        return False
    if cfg.model_type == "mistral" and getattr(cfg, "sliding_window", None):
        return False
    return getattr(cfg, "pretraining_tp", 1) == 1


class LeanDecoder:
    """Decodes one token per row against a preallocated KV buffer.

    Usage (the HF engine does this): `build(model)`; after a transformers prefill,
    `start(cache, mask, new_tokens)` copies the prompt keys/values into the buffer; then
    `step(tokens, positions)` returns the next (B, V) logits, one call per token.
    """

    def __init__(self, model: Any, layers: list[_Layer]):
        self.model = model
        self.layers = layers
        self.dtype = model.model.embed_tokens.weight.dtype
        """The KV buffers' dtype: the parameters' (float32 keys/values under mixed precision)."""
        (self.num_heads, self.num_kv, self.head_dim), self.scaling = attention_dims(model)
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.bias: torch.Tensor | None = None
        self.length = 0

    @classmethod
    def build(cls, model: Any, compute_dtype: torch.dtype | None = None) -> LeanDecoder | None:
        """A decoder over `model`'s current weights, or None when the model is out of scope.
        With `compute_dtype` (mixed precision: call `step` inside autocast to that dtype)
        the fused projection weights are stored in it, cast once here."""
        layers = llama_layers(model, detach=True, dtype=compute_dtype)
        return cls(model, layers) if layers is not None else None

    def start(self, cache: Any, mask: torch.Tensor, new_tokens: int) -> bool:
        """Copy the prefilled cache (B rows) into buffers with room for `new_tokens` more
        positions; `mask` (B, W) is the prompt attention mask (0 on left padding).
        Returns False (and the caller keeps using transformers) if the cache's layout is
        not the expected one."""
        layers = getattr(cache, "layers", None)
        if not isinstance(layers, list) or len(layers) != len(self.layers):
            return False
        bsz, width = mask.shape
        self.keys, self.values = [], []
        for layer in layers:
            k, v = getattr(layer, "keys", None), getattr(layer, "values", None)
            if k is None or k.dim() != 4 or k.shape[0] != bsz or k.shape[2] != width:
                return False
            kb = k.new_empty((bsz, self.num_kv, width + new_tokens, self.head_dim),
                             dtype=self.dtype)
            vb = torch.empty_like(kb)
            kb[:, :, :width] = k
            vb[:, :, :width] = v
            self.keys.append(kb)
            self.values.append(vb)
        dtype = self.dtype
        self.bias = torch.zeros((bsz, width + new_tokens), dtype=dtype, device=mask.device)
        self.bias[:, :width].masked_fill_(mask == 0, torch.finfo(dtype).min)
        self.length = width
        return True

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """tokens (B,), positions (B,) -> next-token logits (B, V) in float32."""
        base = self.model.model
        bsz, n = tokens.shape[0], self.length
        x = base.embed_tokens(tokens)  # (B, H)
        cos, sin = base.rotary_emb(x[:, None], positions[:, None])  # (B, 1, D)
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)
        bias = self.bias[:, None, None, : n + 1]
        nq, nk, hd, group = self.num_heads, self.num_kv, self.head_dim, \
            self.num_heads // self.num_kv
        for layer, kbuf, vbuf in zip(self.layers, self.keys, self.values):
            h = rms(layer.in_norm, x)
            q, k, v = project(h, layer.qkv, [nq * hd, nk * hd, nk * hd])
            q, k, v = q.view(bsz, nq, hd), k.view(bsz, nk, hd), v.view(bsz, nk, hd)
            if layer.q_norm is not None:
                q = rms(layer.q_norm, q)
            if layer.k_norm is not None:
                k = rms(layer.k_norm, k)
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
            kbuf[:, :, n] = k
            vbuf[:, :, n] = v
            with full_precision(x.device):  # attention in the buffers' dtype, always
                scores = torch.matmul(q.view(bsz, nk, group, hd).to(kbuf.dtype),
                                      kbuf[:, :, : n + 1].transpose(-1, -2))  # (B,nk,G,n+1)
                probs = torch.softmax(scores.float() * self.scaling + bias.float(), dim=-1)
                attn = torch.matmul(probs.to(vbuf.dtype), vbuf[:, :, : n + 1])  # (B,nk,G,D)
            x = x + layer.o(attn.reshape(bsz, nq * hd))
            h = rms(layer.post_norm, x)
            gate, up = project(h, layer.gate_up, [layer.down.in_features] * 2)
            x = x + layer.down(layer.act(gate) * up)
        self.length = n + 1
        return self.model.lm_head(rms(base.norm, x)).float()


def llama_layers(model: Any, detach: bool, fuse: bool | None = None,
                 dtype: torch.dtype | None = None) -> list[_Layer] | None:
    """The per-layer modules and (possibly fused) projection weights of a Llama-family
    model, or None when `model` is out of this module's scope (see the module docstring).
    `fuse` (default: when the model has at most FUSE_MAX_PARAMS parameters) concatenates
    the q/k/v and gate/up weights, a copy, cast to `dtype` when given; `detach=False`
    keeps fused weights in the autograd graph."""
    cfg = getattr(model, "config", None)
    if cfg is None or getattr(cfg, "model_type", None) not in SUPPORTED_TYPES:
        return None
    if not _layer_types_ok(cfg) or getattr(cfg, "attn_logit_softcapping", None):
        return None
    base = getattr(model, "model", None)
    need = ("embed_tokens", "layers", "norm", "rotary_emb")
    if base is None or not all(hasattr(base, n) for n in need) or not hasattr(model, "lm_head"):
        return None
    if fuse is None:
        fuse = sum(p.numel() for p in model.parameters()) <= FUSE_MAX_PARAMS
    layers = []
    for layer in base.layers:
        a, m = getattr(layer, "self_attn", None), getattr(layer, "mlp", None)
        names = [(a, "q_proj"), (a, "k_proj"), (a, "v_proj"), (a, "o_proj"),
                 (m, "gate_proj"), (m, "up_proj"), (m, "down_proj"),
                 (layer, "input_layernorm"), (layer, "post_attention_layernorm")]
        if a is None or m is None or not all(hasattr(o, n) for o, n in names) or \
                not hasattr(m, "act_fn"):
            return None
        if any(type(getattr(o, n)) is not torch.nn.Linear for o, n in names[:7]):
            return None  # a wrapped projection (LoRA, quantised): its raw weight is not it
        layers.append(_Layer(
            in_norm=layer.input_layernorm, post_norm=layer.post_attention_layernorm,
            q_norm=getattr(a, "q_norm", None), k_norm=getattr(a, "k_norm", None),
            qkv=_weights([a.q_proj, a.k_proj, a.v_proj], fuse, detach, dtype), o=a.o_proj,
            gate_up=_weights([m.gate_proj, m.up_proj], fuse, detach, dtype), down=m.down_proj,
            act=m.act_fn,
        ))
    return layers


def _weights(mods: list[torch.nn.Module], fuse: bool, detach: bool, dtype: torch.dtype | None
             ) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    if not fuse:
        return [(m.weight, m.bias) for m in mods]
    bias = None
    if any(m.bias is not None for m in mods):
        bias = torch.cat([m.bias if m.bias is not None else
                          m.weight.new_zeros(m.weight.shape[0]) for m in mods])
    weight = torch.cat([m.weight for m in mods])
    if detach:
        weight, bias = weight.detach(), bias.detach() if bias is not None else None
    if dtype is not None:
        weight, bias = weight.to(dtype), bias.to(dtype) if bias is not None else None
    return [(weight, bias)]


def project(h: torch.Tensor, weights: list[tuple[torch.Tensor, torch.Tensor | None]],
             sizes: list[int]) -> list[torch.Tensor]:
    if len(weights) == 1:
        return list(F.linear(h, *weights[0]).split(sizes, dim=-1))
    return [F.linear(h, w, b) for w, b in weights]


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor,
            scaling: float) -> torch.Tensor:
    """(B, Hq, L, D) queries over (B, Hk, S, D) keys/values with a (B|1, 1, L, S) bool mask."""
    group = q.shape[1] // k.shape[1]
    if group > 1:  # GQA: each key/value head serves `group` consecutive query heads
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)
    if q.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        # mixed precision on the CPU: two bfloat16 matmuls around a float32 softmax, what
        # autocast does with the math formula. Forward + backward per layer, tiny model,
        # 64 x 148 tokens: 22 ms, against 34 ms for the float32 flash kernel and 54 ms for
        # the bfloat16 flash kernel (its backward is slow on the CPU)
        dtype = torch.get_autocast_dtype("cpu")
        with full_precision("cpu"):
            scores = torch.matmul(q.to(dtype), k.to(dtype).transpose(-1, -2)).float()
            scores = scores.mul_(scaling).masked_fill_(~mask, float("-inf"))
            probs = torch.softmax(scores, dim=-1).to(dtype)
            return torch.matmul(probs, v.to(dtype)).float()
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scaling)


def _qkv(layer: _Layer, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, dims: tuple,
         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Input norm, projections, q/k norms and rotary of one layer over x (B, L, H):
    q (B, Hq, L, D), k and v (B, Hk, L, D)."""
    nq, nk, hd = dims
    b, n = x.shape[:2]
    q, k, v = project(rms(layer.in_norm, x), layer.qkv, [nq * hd, nk * hd, nk * hd])
    q, k, v = q.view(b, n, nq, hd), k.view(b, n, nk, hd), v.view(b, n, nk, hd)
    if layer.q_norm is not None:
        q = rms(layer.q_norm, q)
    if layer.k_norm is not None:
        k = rms(layer.k_norm, k)
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    return rotate(q, cos, sin), rotate(k, cos, sin), v


def _finish(layer: _Layer, x: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
    """Output projection, residual, post-norm gated MLP, residual."""
    b, n = x.shape[:2]
    x = x + layer.o(attn.transpose(1, 2).reshape(b, n, -1))
    gate, up = project(rms(layer.post_norm, x), layer.gate_up, [layer.down.in_features] * 2)
    return x + layer.down(layer.act(gate) * up)


def shared_prefix_hidden(model: Any, layers: list[_Layer], input_ids: torch.Tensor,
                         attention_mask: torch.Tensor, prompt_width: int) -> torch.Tensor:
    """Training forward that computes each distinct prompt once (Prefix-Grouper style).

    input_ids/attention_mask (B, P + T) in the trainer's layout (left-padded prompts of
    width P, right-padded responses of width T). Rows whose prompt is identical (a GRPO
    group) share one prefix pass: the prompt's keys/values are computed once and every
    response attends to them, so a group of G samples costs 1 prompt + G responses instead
    of G prompts + G responses. Gradients flow back through the shared prefix: the result
    equals the per-row forward up to float rounding (tested against transformers).
    Returns the final-norm hidden states that predict each response token, (B, T, H):
    `model.lm_head` of them is the logits.
    """
    base = model.model
    dims, scaling = attention_dims(model)
    width = prompt_width
    ids_p, mask_p = input_ids[:, :width], attention_mask[:, :width]
    uniq, inv = torch.unique(torch.cat([ids_p, mask_p], 1), dim=0, return_inverse=True)
    u_ids, u_mask = uniq[:, :width], uniq[:, width:]
    dev = input_ids.device

    # prefix pass over the distinct prompts; pads attend to themselves only (finite, unused)
    pos = (u_mask.cumsum(-1) - 1).clamp(min=0)
    x = base.embed_tokens(u_ids)
    cos, sin = base.rotary_emb(x, pos)
    cos, sin = cos[:, None].to(x.dtype), sin[:, None].to(x.dtype)
    causal = torch.ones(width, width, dtype=torch.bool, device=dev).tril()
    eye = torch.eye(width, dtype=torch.bool, device=dev)
    mask = (causal & u_mask.bool()[:, None, None, :]) | eye
    keys, values = [], []
    # activation checkpointing (model.gradient_checkpointing_enable, as transformers
    # models do): each layer's activations are recomputed in the backward
    ckpt = model.training and torch.is_grad_enabled() and getattr(
        model, "is_gradient_checkpointing", False)
    run = (lambda fn, *a: checkpoint(fn, *a, use_reentrant=False)) if ckpt else (
        lambda fn, *a: fn(*a))

    # every tensor a layer reads is an argument: a recompute in the backward must not
    # see names rebound later (cos, sin and mask are rebound for the response pass)
    def prefix_layer(layer: _Layer, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                     mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        q, k, v = _qkv(layer, x, cos, sin, dims)
        return _finish(layer, x, _attend(q, k, v, mask, scaling)), k, v

    for layer in layers:
        x, k, v = run(prefix_layer, layer, x, cos, sin, mask)
        keys.append(k)
        values.append(v)
    last = x[:, -1]  # (U, H): predicts the first response token

    # response pass, packed: projections and MLPs run on the N real response tokens only
    # (no work on padding); attention runs in the padded (B, n) layout, where every row
    # attends to its prompt's keys/values, then causally to itself
    resp = input_ids[:, width:]
    bsz, n = resp.shape
    real = attention_mask[:, width:].reshape(-1).nonzero().squeeze(-1)  # (N,)
    pos = (attention_mask.cumsum(-1) - 1).clamp(min=0)[:, width:]
    x = base.embed_tokens(resp).reshape(bsz * n, -1)[real]  # (N, H)
    cos, sin = base.rotary_emb(x[None], pos.reshape(1, -1)[:, real])
    cos, sin = cos[0, :, None].to(x.dtype), sin[0, :, None].to(x.dtype)  # (N, 1, D)
    prefix_ok = mask_p.bool()[:, None, None, :].expand(-1, 1, n, width)
    own = torch.ones(n, n, dtype=torch.bool, device=dev).tril().expand(bsz, 1, n, n)
    mask = torch.cat([prefix_ok, own], dim=-1)

    def padded(t: torch.Tensor) -> torch.Tensor:  # (N, heads, D) -> (B, heads, n, D)
        out = t.new_zeros(bsz * n, *t.shape[1:]).index_copy(0, real, t)
        return out.view(bsz, n, *t.shape[1:]).transpose(1, 2)

    def response_layer(layer: _Layer, x: torch.Tensor, kp: torch.Tensor, vp: torch.Tensor,
                       cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        nq, nk, hd = dims
        q, k, v = project(rms(layer.in_norm, x), layer.qkv, [nq * hd, nk * hd, nk * hd])
        q, k, v = q.view(-1, nq, hd), k.view(-1, nk, hd), v.view(-1, nk, hd)
        if layer.q_norm is not None:
            q = rms(layer.q_norm, q)
        if layer.k_norm is not None:
            k = rms(layer.k_norm, k)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        k = torch.cat([kp[inv], padded(k)], dim=2)
        v = torch.cat([vp[inv], padded(v)], dim=2)
        attn = _attend(padded(q), k, v, mask, scaling)  # (B, Hq, n, D)
        attn = attn.transpose(1, 2).reshape(bsz * n, -1)[real]  # (N, Hq * D)
        x = x + layer.o(attn)
        gate, up = project(rms(layer.post_norm, x), layer.gate_up, [layer.down.in_features] * 2)
        return x + layer.down(layer.act(gate) * up)

    for layer, kp, vp in zip(layers, keys, values):
        x = run(response_layer, layer, x, kp, vp, cos, sin, mask)
    x = x.new_zeros(bsz * n, x.shape[-1]).index_copy(0, real, x).view(bsz, n, -1)
    hidden = torch.cat([last[inv][:, None], x[:, : n - 1]], dim=1)  # (B, T, H)
    return rms(base.norm, hidden)


def training_layers(model: Any) -> list[_Layer] | None:
    """llama_layers for the training forward, or None when the model is out of scope or
    its config asks for something the lean forward does not do (attention dropout).

    Unfused: in training the fused weight saves nothing (the matmuls are large) and its
    backward costs a concatenation of the split gradients per projection (measured on
    the tiny model: the update 8% slower fused)."""
    if getattr(getattr(model, "config", None), "attention_dropout", 0.0):
        return None
    return llama_layers(model, detach=False, fuse=False)
