"""The lean decoding step (models/lean.py) is the transformers forward, faster.

For each supported architecture (random tiny configs, GQA where the family has it):
the engine samples the same tokens with the lean step as with the transformers
forward, with the same log-probs, and the lean logits match a full-sequence forward.
Out-of-scope models fall back to transformers and still generate.
"""

import pytest
import torch
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

from focusrl.models import build_char_tokenizer
from focusrl.models.lean import LeanDecoder
from focusrl.rollout.hf_engine import HFEngine
from focusrl.rollout.kv_cache import GrowingLayer, reserve
from focusrl.types import GenerationRequest, Prompt, SamplingParams

TOK = build_char_tokenizer()
COMMON = dict(vocab_size=len(TOK), hidden_size=32, intermediate_size=48, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
              pad_token_id=TOK.pad_token_id, eos_token_id=TOK.eos_token_id,
              bos_token_id=TOK.bos_token_id)


def _model(kind: str):
    torch.manual_seed(0)
    if kind == "qwen2":
        return Qwen2ForCausalLM(Qwen2Config(**COMMON, tie_word_embeddings=True)).eval()
    if kind == "qwen3":
        return Qwen3ForCausalLM(Qwen3Config(**COMMON, head_dim=8)).eval()
    if kind == "llama":
        return LlamaForCausalLM(LlamaConfig(**COMMON, attention_bias=True, rope_scaling={
            "rope_type": "linear", "factor": 2.0})).eval()
    if kind == "mistral":
        return MistralForCausalLM(MistralConfig(**COMMON, sliding_window=None)).eval()
    raise ValueError(kind)


def _requests():
    prompts = [Prompt("a", "1+2="), Prompt("b", "13+45="), Prompt("c", "7+7+7=")]
    return [GenerationRequest(p, n, i) for i, (p, n) in enumerate(zip(prompts, [3, 1, 2]))]


@pytest.mark.parametrize("kind", ["qwen2", "qwen3", "llama", "mistral"])
def test_lean_step_samples_what_transformers_samples(kind):
    torch.set_num_threads(1)
    model = _model(kind)
    dec = LeanDecoder.build(model)
    assert dec is not None and len(dec.layers) == model.config.num_hidden_layers
    assert (dec.num_heads, dec.num_kv) == (4, 2)  # GQA: two query heads per kv head
    params = SamplingParams(max_new_tokens=12, temperature=0.9, ignore_eos=True)
    fast, slow = HFEngine(model, TOK, seed=3), HFEngine(model, TOK, seed=3, lean_decode=False)
    lean, plain = fast.generate(_requests(), params), slow.generate(_requests(), params)
    assert (fast.decode_path, slow.decode_path) == ("lean", "transformers")
    for a, b in zip(lean, plain):
        assert a.response_ids == b.response_ids
        assert torch.allclose(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5)


@pytest.mark.parametrize("kind", ["qwen2", "llama"])
def test_lean_logits_match_a_full_forward_with_left_padding(kind):
    torch.set_num_threads(1)
    model = _model(kind)
    ids = torch.tensor([[0, 0, 11, 12], [13, 14, 15, 16]])
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    nxt = torch.tensor([[17, 18, 19], [20, 21, 22]])
    with torch.no_grad():
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
        dec = LeanDecoder.build(model)
        assert dec.start(out.past_key_values, mask, new_tokens=3)
        full_ids = torch.cat([ids, nxt], 1)
        full_mask = torch.cat([mask, torch.ones_like(nxt)], 1)
        full_pos = (full_mask.cumsum(-1) - 1).clamp(min=0)
        ref = model(input_ids=full_ids, attention_mask=full_mask, position_ids=full_pos).logits
        p = pos[:, -1]
        for t in range(3):
            p = p + 1
            got = dec.step(nxt[:, t], p)
            want = ref[:, ids.size(1) + t]
            assert torch.allclose(got, want, atol=1e-5), (t, (got - want).abs().max())


def test_out_of_scope_models_fall_back_and_still_generate():
    torch.set_num_threads(1)
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=len(TOK), n_embd=32, n_layer=2, n_head=2,
                                      n_positions=64, eos_token_id=TOK.eos_token_id)).eval()
    assert LeanDecoder.build(gpt2) is None
    sliding = Qwen2ForCausalLM(Qwen2Config(**COMMON, use_sliding_window=True,
                                           sliding_window=8)).eval()
    assert LeanDecoder.build(sliding) is None
    engine = HFEngine(gpt2, TOK, seed=0)
    out = engine.generate(_requests(), SamplingParams(max_new_tokens=5))
    assert engine.decode_path == "transformers"
    assert len(out) == 6 and all(1 <= len(s.response_ids) <= 5 for s in out)


def test_growing_cache_layer_equals_concatenation():
    """The transformers fallback's in-place cache gives the same keys as torch.cat, and
    grows past its reserved capacity."""
    model = _model("qwen2")
    ids = torch.tensor([[11, 12, 13]])
    with torch.no_grad():
        cache = model(input_ids=ids, use_cache=True).past_key_values
        before = cache.layers[0].keys.clone()
        assert reserve(cache, 1) == 2
        assert isinstance(cache.layers[0], GrowingLayer)
        for tok in (14, 15, 16):  # the third step outgrows the reserved room
            model(input_ids=torch.tensor([[tok]]), past_key_values=cache, use_cache=True)
        ref = model(input_ids=torch.tensor([[11, 12, 13, 14, 15, 16]]), use_cache=True)
    assert cache.get_seq_length() == 6
    assert torch.equal(cache.layers[0].keys[:, :, :3], before)
    assert torch.allclose(cache.layers[0].keys, ref.past_key_values.layers[0].keys, atol=1e-6)


def _ragged_batch(model):
    """Three groups (sizes 3, 1, 2) with prompts of different lengths and ragged responses."""
    from focusrl.trainer.batching import build_batch
    from focusrl.types import Sample

    prompts = [[11, 12], [13, 14, 15, 16], [17]]
    samples = []
    for g, (p, n) in enumerate(zip(prompts, [3, 1, 2])):
        for i in range(n):
            resp = [20 + g, 21 + i, 22, 23 + g + i][: 2 + (i + g) % 3]
            samples.append(Sample(prompt_id=str(g), group_id=g, prompt_ids=p,
                                  response_ids=resp, logprobs=[0.0] * len(resp)))
    return build_batch(samples, TOK.pad_token_id, torch.device("cpu"))


@pytest.mark.parametrize("kind", ["qwen2", "qwen3", "llama"])
def test_shared_prefix_forward_equals_the_transformers_forward(kind):
    """Same logits and same parameter gradients as the per-row transformers forward."""
    from focusrl.trainer.batching import response_logits

    torch.set_num_threads(1)
    model = _model(kind).train()
    batch = _ragged_batch(model)
    grads = []
    for shared in (False, True):
        model.zero_grad()
        logits = response_logits(model, batch, 0.8, shared_prefix=shared)
        (logits.log_softmax(-1) * batch.mask[..., None]).sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
        if shared:
            got = logits.detach()
        else:
            want = logits.detach()
    valid = batch.mask > 0
    assert torch.allclose(got[valid], want[valid], atol=1e-5)
    for name, g in grads[0].items():
        assert torch.allclose(grads[1][name], g, atol=1e-5, rtol=1e-4), name
