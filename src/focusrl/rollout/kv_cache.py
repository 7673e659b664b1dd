"""A KV cache that grows in place, for the HF engine's decoding loop.

transformers' `DynamicLayer.update` appends each new position with `torch.cat`, which
copies the whole layer cache at every step: O(L) bytes per token, O(L^2) per response.
On a small model that copy is most of the decoding time (measured on the tiny model,
64 samples x 128 tokens: `aten::cat` was 81% of generate's CPU time; see
docs/benchmarks.md, "focusrl vs TRL"). `reserve` swaps each plain dynamic layer for a
`GrowingLayer` that preallocates room for the tokens still to come and writes new
positions into that buffer; attention still sees exactly the filled prefix (a view), so
outputs are unchanged. Sliding-window and other layer kinds are left as they are.
"""

from __future__ import annotations

from typing import Any

import torch

try:  # transformers >= 4.56 (layered caches)
    from transformers.cache_utils import DynamicLayer
except ImportError:  # pragma: no cover - older transformers: no in-place growth
    DynamicLayer = None  # type: ignore[assignment,misc]


if DynamicLayer is not None:

    class GrowingLayer(DynamicLayer):  # type: ignore[misc,valid-type]
        """A dynamic cache layer backed by a preallocated buffer; `keys`/`values` are views
        of its filled prefix. Past capacity it doubles the buffer (one copy), so it never
        fails, it only stops being free."""

        def __init__(self, keys: torch.Tensor, values: torch.Tensor, capacity: int):
            super().__init__()
            self.dtype, self.device = keys.dtype, keys.device
            self.is_initialized = True
            self._length = 0
            self._k = keys.new_empty((*keys.shape[:2], capacity, keys.shape[-1]))
            self._v = values.new_empty((*values.shape[:2], capacity, values.shape[-1]))
            self._write(keys, values)

        def _write(self, k: torch.Tensor, v: torch.Tensor) -> None:
            start, end = self._length, self._length + k.shape[-2]
            if end > self._k.shape[-2]:
                grow = max(end, 2 * self._k.shape[-2])
                self._k = torch.cat([self._k[:, :, :start], self._k.new_empty(
                    (*self._k.shape[:2], grow - start, self._k.shape[-1]))], dim=-2)
                self._v = torch.cat([self._v[:, :, :start], self._v.new_empty(
                    (*self._v.shape[:2], grow - start, self._v.shape[-1]))], dim=-2)
            self._k[:, :, start:end].copy_(k)
            self._v[:, :, start:end].copy_(v)
            self._length = end
            self.keys, self.values = self._k[:, :, :end], self._v[:, :, :end]

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
                   **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
            self._write(key_states, value_states)
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self._length

        def crop(self, tokens_to_remove: int) -> None:
            if tokens_to_remove < 0 and self._length:
                self._length = max(self._length + tokens_to_remove, 0)
                self.keys, self.values = (self._k[:, :, : self._length],
                                          self._v[:, :, : self._length])
            else:
                super().crop(tokens_to_remove)

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            self._k, self._v = self._k[indices], self._v[indices]
            self.keys, self.values = self._k[:, :, : self._length], self._v[:, :, : self._length]

        def batch_repeat_interleave(self, repeats: int) -> None:
            self._k = self._k.repeat_interleave(repeats, dim=0)
            self._v = self._v.repeat_interleave(repeats, dim=0)
            self.keys, self.values = self._k[:, :, : self._length], self._v[:, :, : self._length]


def reserve(cache: Any, new_tokens: int) -> int:
    """Give every plain dynamic layer of `cache` room for `new_tokens` more positions,
    written in place. Returns how many layers were converted (0 when the cache has no
    such layers, e.g. an older transformers or a sliding-window model: still correct,
    just without the saving)."""
    layers = getattr(cache, "layers", None)
    if DynamicLayer is None or not isinstance(layers, list):
        return 0
    converted = 0
    for i, layer in enumerate(layers):
        if type(layer) is DynamicLayer and layer.is_initialized and layer.keys is not None \
                and layer.keys.dim() == 4:
            capacity = layer.keys.shape[-2] + new_tokens
            layers[i] = GrowingLayer(layer.keys, layer.values, capacity)
            converted += 1
    return converted
