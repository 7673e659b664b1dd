"""RLPT's promising-token restriction as a vLLM V1 logits processor.

vLLM V1 builds logits processors once, with the engine
(`LLM(logits_processors=["focusrl.rollout.vllm_rlpt:PromisingLogitsProcessor"])`); a
request switches this one on with `SamplingParams(extra_args={EXTRA_KEY: {"k": .., "top_p":
.., "max_k": ..}})`. Rows of other requests in the same batch are left untouched.

It applies the same pure function as the HF engine, `promising.promising_support`, to the
temperature-scaled logits: it declares itself argmax-invariant (the top-1 token is always
in P_t), and vLLM applies such processors after temperature scaling and only to sampled
(non-greedy) rows. With `logprobs_mode="processed_logprobs"` the log-prob vLLM returns for
a token is then under the policy renormalised over P_t, the distribution sampled from.

The support itself is not returned (vLLM has no per-token side channel for it): the
trainer recomputes it from its own forward pass, the same function on the same logits.
This module imports vLLM; nothing else in focusrl needs it unless rollout.engine=vllm.
"""

from __future__ import annotations

from typing import Any

import torch
from vllm import SamplingParams
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor
from vllm.v1.sample.logits_processor.builtin import process_dict_updates

from focusrl.rollout.promising import promising_support

EXTRA_KEY = "focusrl_promising"
"""Key of the per-request RLPT settings in SamplingParams.extra_args."""

Spec = tuple[int, float, int]
"""(k, top_p, max_k) of one request."""


def promising_extra_args(k: int, top_p: float = 1.0, max_k: int = 0) -> dict[str, Any]:
    """The SamplingParams.extra_args that switch the restriction on for one request."""
    return {EXTRA_KEY: {"k": int(k), "top_p": float(top_p), "max_k": int(max_k)}}


def _spec(params: SamplingParams) -> Spec | None:
    args = (params.extra_args or {}).get(EXTRA_KEY)
    if not args:
        return None
    return int(args["k"]), float(args.get("top_p", 1.0)), int(args.get("max_k", 0))


class PromisingLogitsProcessor(LogitsProcessor):
    """Keeps only P_t's logits (the rest -inf) in rows whose request asked for it."""

    def __init__(self, vllm_config: Any, device: torch.device, is_pin_memory: bool) -> None:
        self.rows: dict[int, Spec] = {}  # persistent-batch row -> its request's (k, top_p, max_k)

    @classmethod
    def validate_params(cls, sampling_params: SamplingParams) -> None:
        args = (sampling_params.extra_args or {}).get(EXTRA_KEY)
        if args is None:
            return
        if not isinstance(args, dict) or int(args.get("k", 0)) < 1:
            raise ValueError(f"extra_args[{EXTRA_KEY!r}] must be a dict with k >= 1 (and "
                             f"optional top_p, max_k), got {args!r}.")
        if not 0.0 < float(args.get("top_p", 1.0)) <= 1.0:
            raise ValueError(f"extra_args[{EXTRA_KEY!r}]['top_p'] must be in (0, 1].")

    def is_argmax_invariant(self) -> bool:
        # The argmax is always in P_t; declaring it also makes vLLM apply us after the
        # temperature, as the HF engine does.
        return True

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        process_dict_updates(self.rows, batch_update, lambda params, _p, _o: _spec(params))

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """logits (B, V), already divided by each row's temperature."""
        if not self.rows:
            return logits
        by_spec: dict[Spec, list[int]] = {}
        for row, spec in self.rows.items():
            by_spec.setdefault(spec, []).append(row)
        for (k, top_p, max_k), rows in by_spec.items():
            index = torch.tensor(rows, device=logits.device)
            restricted, _ = promising_support(logits[index], k, top_p, max_k)
            logits[index] = restricted
        return logits
