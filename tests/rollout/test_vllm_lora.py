"""LoRA into vLLM, for real on the CPU: the engine serves the base model and each weight
sync pushes only the adapter (one engine for the module)."""

from __future__ import annotations

import pytest
import torch

from focusrl.models import build_char_tokenizer, build_tiny_model
from focusrl.models.lora import LoRAConfig, apply_lora
from focusrl.rollout.hf_engine import HFEngine
from focusrl.types import GenerationRequest, Prompt, SamplingParams

GREEDY = SamplingParams(max_new_tokens=10, greedy=True)


@pytest.fixture(scope="module")
def engine(require_vllm):
    from focusrl.rollout.vllm_engine import VLLMEngine

    tok = build_char_tokenizer()
    base = build_tiny_model(tok, hidden_size=64, num_layers=2, num_heads=2,
                            intermediate_size=128, max_positions=128, seed=0)
    model = apply_lora(base, LoRAConfig(enabled=True, r=4, alpha=8.0))
    eng = VLLMEngine(model, tok, seed=0)
    eng.model = model  # the trainer's policy, kept beside the engine for the checks
    yield eng
    eng.close()


def _requests():
    prompts = [Prompt("a", "1+2="), Prompt("b", "13+45="), Prompt("c", "7+7+7=")]
    return [GenerationRequest(p, 1, i) for i, p in enumerate(prompts)]


def _perturb_adapter(model, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.add_(0.5 * torch.randn(p.shape, generator=gen))


def _hf(model, tok, params=GREEDY):
    return HFEngine(model, tok, "cpu").generate(_requests(), params)


def test_after_an_adapter_sync_greedy_equals_the_peft_model(engine):
    model, tok = engine.model, engine.tokenizer
    # before any update the adapter is the identity: vLLM serves the base model
    start = engine.generate(_requests(), GREEDY)
    with model.disable_adapter():
        assert [s.response_ids for s in start] == [s.response_ids for s in _hf(model, tok)]
    for version, seed in ((1, 1), (2, 2)):  # two syncs: the second replaces the first
        _perturb_adapter(model, seed)
        metrics = engine.sync_weights(model, version)
        want = _hf(model, tok)
        got = engine.generate(_requests(), GREEDY)
        assert [s.response_ids for s in got] == [s.response_ids for s in want]
        assert all(s.policy_version == version for s in got)
        assert max(abs(a - b) for g, w in zip(got, want)
                   for a, b in zip(g.logprobs, w.logprobs)) < 1e-4
        assert 0 < metrics["sync_seconds"] < 30
    with model.disable_adapter():
        base = _hf(model, tok)
    assert [s.response_ids for s in got] != [s.response_ids for s in base]  # it matters
    assert engine.llm.llm_engine.list_loras() == {engine._lora.request.lora_int_id}


def test_only_the_adapter_tensors_are_pushed(engine):
    model = engine.model
    adapter = sum(p.numel() * p.element_size() for n, p in model.named_parameters()
                  if "lora_" in n)
    full = sum(t.numel() * t.element_size() for t in model.get_base_model().state_dict().values())
    metrics = engine.sync_weights(model, 7)
    assert metrics["sync_bytes"] == adapter
    assert adapter < full / 10
    req = GenerationRequest(Prompt("d", "2+2="), 2, 0)
    out = engine.generate([req], SamplingParams(max_new_tokens=4))
    assert len(out) == 2 and all(s.policy_version == 7 for s in out)
