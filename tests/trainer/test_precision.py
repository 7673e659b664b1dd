"""Mixed precision (model.mixed_precision=bf16, models/precision.py): bfloat16 matmuls
over float32 parameters, in training and in generation.

bfloat16 has an 8-bit mantissa, so results are compared with float32 at bf16 tolerance:
the point is that the numbers stay close, that parameters, gradients and the KV cache
stay float32, and that the sampler and the trainer agree under bf16 as they do in fp32.
"""

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from focusrl.algorithms.logprobs import token_logprobs
from focusrl.config import load_config
from focusrl.configtools import ConfigError
from focusrl.models import build_char_tokenizer, lean
from focusrl.models.precision import autocast, compute_dtype
from focusrl.rollout.hf_engine import HFEngine
from focusrl.trainer.batching import build_batch, response_logits
from focusrl.types import GenerationRequest, Prompt, SamplingParams

TOK = build_char_tokenizer()
BF16 = torch.bfloat16


def _model():
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=len(TOK), hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=128, tie_word_embeddings=True,
                      pad_token_id=TOK.pad_token_id, eos_token_id=TOK.eos_token_id)
    return Qwen2ForCausalLM(cfg)


def _requests():
    prompts = [Prompt("a", "12+34="), Prompt("b", "5*6="), Prompt("c", "100-7=")]
    return [GenerationRequest(p, 3, i) for i, p in enumerate(prompts)]


@pytest.mark.parametrize("shared_prefix", [False, True])
def test_bf16_training_forward_is_close_to_fp32_with_fp32_gradients(shared_prefix):
    torch.set_num_threads(1)
    model = _model().train()
    samples = HFEngine(model, TOK, seed=0).generate(
        _requests(), SamplingParams(max_new_tokens=8, ignore_eos=True))
    batch = build_batch(samples, TOK.pad_token_id, torch.device("cpu"))
    out = {}
    for dtype in (None, BF16):
        model.zero_grad()
        logits = response_logits(model, batch, 1.0, shared_prefix, compute_dtype=dtype)
        assert logits.dtype == torch.float32
        logp = token_logprobs(logits, batch.tokens)
        (-(logp * batch.mask).sum()).backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters()])
        assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32
                   for p in model.parameters())
        out[dtype] = (logp.detach(), grads)
    (lp32, g32), (lp16, g16) = out[None], out[BF16]
    valid = batch.mask > 0
    diff = (lp16 - lp32)[valid].abs()
    assert 0 < diff.max() < 0.05, diff.max()  # different arithmetic, bf16-sized error
    assert torch.cosine_similarity(g16, g32, dim=0) > 0.99


def test_cpu_attention_under_bf16_autocast_respects_the_mask_and_returns_float32():
    torch.manual_seed(0)
    q = torch.randn(2, 4, 5, 8)
    k, v = torch.randn(2, 2, 7, 8), torch.randn(2, 2, 7, 8)
    mask = torch.ones(1, 1, 5, 7, dtype=torch.bool).tril(diagonal=2)
    want = lean._attend(q, k, v, mask, 0.3)
    with autocast("cpu", BF16):
        got = lean._attend(q, k, v, mask, 0.3)
        v2 = v.clone()
        v2[:, :, 6] = 100.0  # key 6 is masked for every query but the last
        moved = lean._attend(q, k, v2, mask, 0.3)
    assert got.dtype == torch.float32
    assert torch.allclose(got, want, atol=0.05)  # bf16 matmuls, float32 softmax
    assert torch.equal(moved[:, :, :4], got[:, :, :4]) and not torch.equal(moved, got)


def test_bf16_sampler_and_bf16_trainer_agree_and_the_cache_stays_fp32():
    torch.set_num_threads(1)
    model = _model().eval()
    engine = HFEngine(model, TOK, seed=1, compute_dtype=BF16)
    samples = engine.generate(_requests(), SamplingParams(max_new_tokens=10, ignore_eos=True))
    assert engine.decode_path == "lean"
    batch = build_batch(samples, TOK.pad_token_id, torch.device("cpu"))
    with torch.no_grad():
        logp = token_logprobs(response_logits(model, batch, compute_dtype=BF16), batch.tokens)
    valid = batch.mask > 0
    gap = (logp - batch.sampler_logp)[valid].abs()
    assert gap.mean() < 0.02 and gap.max() < 0.1, (gap.mean(), gap.max())

    dec = lean.LeanDecoder.build(model, BF16)
    assert dec.layers[0].qkv[0][0].dtype == BF16  # fused weights cast once, at build
    ids = torch.tensor([[11, 12, 13]])
    with torch.no_grad(), autocast("cpu", BF16):
        cache = model(input_ids=ids, use_cache=True).past_key_values
        assert dec.start(cache, torch.ones_like(ids), new_tokens=2)
        logits = dec.step(torch.tensor([14]), torch.tensor([3]))
    assert {b.dtype for b in dec.keys + dec.values} == {torch.float32}
    assert logits.dtype == torch.float32 and torch.isfinite(logits).all()


def test_mixed_precision_config_values_and_errors():
    assert compute_dtype("none") is None and compute_dtype("bf16") is BF16
    with pytest.raises(ValueError, match="expected one of"):
        compute_dtype("fp8")
    with pytest.raises(ConfigError, match="model.dtype=float32"):
        load_config(None, ["model.mixed_precision=bf16", "model.dtype=bfloat16"])
    with pytest.raises(ConfigError, match="mixed_precision"):
        load_config(None, ["model.mixed_precision=fp16"])


def test_auto_precision_follows_the_hardware(monkeypatch):
    """auto: bf16 exactly where the device computes it natively, and only over float32
    parameters; the CPU answer comes from its flags (AVX512-BF16 or AMX)."""
    from pathlib import Path

    from focusrl.models import precision

    flags = Path("/proc/cpuinfo").read_text()
    assert precision.cpu_has_native_bf16() == any(f" {f}" in flags
                                                  for f in precision.BF16_CPU_FLAGS)
    for native in (True, False):
        monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda native=native: native)
        assert compute_dtype("auto", "cpu") is (BF16 if native else None)
        assert compute_dtype("auto", "cpu", "bfloat16") is None
    assert load_config(None, ["model.dtype=bfloat16"]).model.mixed_precision == "auto"


def test_bf16_rl_run_end_to_end(tiny_config):
    """A short RL run under bf16 runs end to end, and its sampler and trainer log-probs
    agree to bf16 precision (the logged logp_mismatch: ~1e-4 here, ~1e-7 in fp32)."""
    from focusrl.trainer.logging import read_metrics
    from focusrl.trainer.rl import train

    cfg = tiny_config("model.mixed_precision=bf16", "train.steps=3", "train.eval_every=0",
                      "train.checkpoint_every=0")
    train(cfg)
    rows = read_metrics(f"{cfg.run_dir}/metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(r["skipped_updates"] == 0 for r in rows)
    mismatch = [r["logp_mismatch"] for r in rows]
    assert all(1e-6 < m < 0.02 for m in mismatch), mismatch  # bf16 is on, and close


def test_cpu_runtime_settings(monkeypatch):
    import platform

    from focusrl import runtime

    calls = []
    monkeypatch.setattr(runtime.torch, "set_num_threads", calls.append)
    runtime.configure_cpu(3, malloc=False)
    assert calls == [3]
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert runtime.tune_malloc() is True and runtime.tune_malloc() is True
