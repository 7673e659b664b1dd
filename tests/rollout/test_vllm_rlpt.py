"""The vLLM RLPT logits processor and the HF engine restrict the same logits to the same
support (no engine start-up: the processor is driven with vLLM's own batch records)."""

from __future__ import annotations

import pytest
import torch

from focusrl.models import build_char_tokenizer, build_tiny_model
from focusrl.rollout.hf_engine import HFEngine
from focusrl.types import SamplingParams


@pytest.mark.parametrize("k, top_p, max_k, temperature", [(3, 1.0, 0, 1.0), (2, 0.6, 8, 1.7)])
def test_hf_engine_and_vllm_processor_give_the_same_support(require_vllm, k, top_p, max_k,
                                                             temperature):
    from vllm import SamplingParams as VSP
    from vllm.v1.sample.logits_processor import BatchUpdate

    from focusrl.rollout.vllm_rlpt import PromisingLogitsProcessor, promising_extra_args

    logits = torch.randn(5, 40, generator=torch.Generator().manual_seed(0)) * 3  # (B, V)
    params = SamplingParams(temperature=temperature, promising_k=k, promising_top_p=top_p,
                            promising_max_k=max_k)
    # HF engine: one sampling step, recording the support it sampled inside
    tok = build_char_tokenizer()
    hf = HFEngine(build_tiny_model(tok, 16, 1, 1, 16), tok)
    width = k if top_p >= 1 else max(k, max_k)
    hf_support = torch.full((5, 1, width), -1, dtype=torch.long)
    hf._sample(logits, None, params, hf_support, torch.zeros(5, 1), 0, torch.Generator())
    # vLLM processor: rows 0, 2, 4 restricted, rows 1, 3 another request, unrestricted
    on = VSP(temperature=temperature, extra_args=promising_extra_args(k, top_p, max_k))
    off = VSP(temperature=temperature)
    proc = PromisingLogitsProcessor(None, torch.device("cpu"), False)
    proc.update_state(BatchUpdate(batch_size=5, removed=[], moved=[], added=[
        (i, on if i % 2 == 0 else off, [1], []) for i in range(5)]))
    out = proc.apply(logits.clone() / temperature)  # vLLM scales before this processor
    for row in range(5):
        kept = torch.isfinite(out[row]).nonzero().flatten().tolist()
        if row % 2:
            assert len(kept) == 40
        else:
            want = [t for t in hf_support[row, 0].tolist() if t >= 0]
            assert sorted(kept) == sorted(want) and len(want) >= k
    # a request leaving the batch stops being restricted
    proc.update_state(BatchUpdate(batch_size=4, removed=[0], moved=[], added=[]))
    assert torch.isfinite(proc.apply(logits.clone())[0]).all()


def test_bad_extra_args_are_rejected(require_vllm):
    from vllm import SamplingParams as VSP

    from focusrl.rollout.vllm_rlpt import EXTRA_KEY, PromisingLogitsProcessor

    with pytest.raises(ValueError, match="k >= 1"):
        PromisingLogitsProcessor.validate_params(VSP(extra_args={EXTRA_KEY: {"k": 0}}))
