"""Chunked LM-head log-probs (trainer/token_head.py): the same values and gradients as
the full (B, T, V) logits, for the full vocabulary, an RLPT support, the Lp-Reg proxy,
a temperature, both training forwards, and through policy_update."""

import copy

import pytest
import torch

from focusrl.algorithms.config import AlgorithmConfig, RLPTConfig
from focusrl.algorithms.logprobs import token_stats
from focusrl.models import build_char_tokenizer, build_tiny_model
from focusrl.trainer.batching import build_batch, lm_head, response_hidden, response_logits
from focusrl.trainer.optim import build_optimizer
from focusrl.trainer.token_head import Forward, head_token_stats
from focusrl.trainer.update import policy_update
from focusrl.types import Sample

TOK = build_char_tokenizer()


def _batch(support_k: int = 0):
    torch.manual_seed(0)
    samples = []
    for i, (p, r) in enumerate([("1+1=", "2"), ("1+1=", "34"), ("12+3=", "15"),
                                ("7=", "123456")]):
        ids = TOK(r, add_special_tokens=False).input_ids + [TOK.eos_token_id]
        sup = None
        if support_k:
            sup = torch.randint(0, len(TOK), (len(ids), support_k))
            sup[:, 0] = torch.tensor(ids)  # the taken token is in its support
            sup[-1, -1] = -1  # some padding
        samples.append(Sample(str(i), i // 2, TOK(p, add_special_tokens=False).input_ids,
                              ids, [0.0] * len(ids), support=sup, advantage=1.0 - i / 2))
    return build_batch(samples, TOK.pad_token_id, torch.device("cpu"))


def _model():
    return build_tiny_model(TOK, hidden_size=32, num_layers=2, num_heads=2,
                            intermediate_size=64, seed=0)


@pytest.mark.parametrize("shared_prefix", [False, True])
@pytest.mark.parametrize("support_k", [0, 4])
def test_chunked_stats_and_gradients_equal_the_full_logits(shared_prefix, support_k):
    batch = _batch(support_k)
    results = []
    for chunked in (False, True):
        model = _model()
        kw = dict(with_entropy=True, proxy_min_p=0.02)
        if chunked:
            hidden = response_hidden(model, batch, shared_prefix)
            st = head_token_stats(hidden, lm_head(model), batch.tokens, batch.support,
                                  temperature=0.7, chunk_tokens=5, **kw)
        else:
            logits = response_logits(model, batch, 0.7, shared_prefix)
            st = token_stats(logits, batch.tokens, batch.support, **kw)
        m = batch.mask
        loss = (st.logp * m).sum() * 0.3 + (st.entropy * m).sum() * 0.1
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters()}
        results.append((st, grads))
    (full, g_full), (chunk, g_chunk) = results
    m = batch.mask > 0
    for name in ("logp", "entropy", "proxy_logp"):
        a, b = getattr(full, name)[m], getattr(chunk, name)[m]
        assert torch.allclose(a, b, atol=1e-5), name
    for n in g_full:
        assert torch.allclose(g_full[n], g_chunk[n], atol=1e-5), n


def test_support_path_gathers_only_support_rows_and_flags_a_missing_token():
    batch = _batch(4)
    model = _model()
    hidden = response_hidden(model, batch)
    bad = batch.support.clone()
    bad[0, 0] = torch.tensor([1, 2, 3, 4])  # the taken token is not in this support
    st = head_token_stats(hidden, lm_head(model), batch.tokens, bad)
    assert st.logp[0, 0] == float("-inf") and torch.isfinite(st.logp[1:][batch.mask[1:] > 0]).all()


def test_policy_update_is_the_same_with_and_without_chunking():
    for algo in (AlgorithmConfig(entropy_coef=0.01),
                 AlgorithmConfig(rlpt=RLPTConfig(enabled=True, k=4)),
                 AlgorithmConfig(loss="lp_reg")):
        runs = []
        for chunk in (0, 7):
            model = _model()
            batch = copy.copy(_batch())
            opt, sched = build_optimizer(model, 1e-3, 0.0, (0.9, 0.99), 1e-8, 0, 10)
            res = policy_update(model, opt, sched, batch, algo, passes=2, micro_batch_samples=2,
                                grad_clip=1.0, temperature=0.9, max_length=7,
                                shared_prefix=True, chunk_tokens=chunk)
            runs.append((res.metrics, {k: v.clone() for k, v in model.state_dict().items()}))
        (m0, w0), (m1, w1) = runs
        for key in ("loss", "entropy", "grad_norm", "logp_mismatch"):
            assert m0[key] == pytest.approx(m1[key], rel=1e-4, abs=1e-6), (algo.loss, key)
        worst = max(float((w0[k] - w1[k]).abs().max()) for k in w0)
        assert worst < 1e-5, (algo.loss, algo.rlpt.enabled, worst)


def test_models_without_a_plain_head_use_the_full_logits():
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=len(TOK), n_embd=32, n_layer=1, n_head=2,
                                      n_positions=64))
    gpt2.config.model_type = "not_plain"
    fwd = Forward(gpt2, _batch(), 1.0, False, None, 8)
    assert fwd.logits is not None and fwd.hidden is None


@pytest.mark.parametrize("shared_prefix", [False, True])
def test_activation_checkpointing_gives_the_same_gradients(shared_prefix):
    batch = _batch()
    grads = []
    for ckpt in (False, True):
        model = _model()
        if ckpt:
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False})
        model.train()
        st = head_token_stats(response_hidden(model, batch, shared_prefix), lm_head(model),
                              batch.tokens, with_entropy=True)
        ((st.logp + 0.1 * st.entropy) * batch.mask).sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for n in grads[0]:
        assert torch.allclose(grads[0][n], grads[1][n], atol=1e-6), n


def test_only_positions_in_the_loss_go_through_the_head():
    """Packing for the head: masked positions (padding, filtered samples, environment
    tokens) cost nothing and come back 0; the rest equal the unmasked computation; a
    fully masked micro-batch still gives a loss that backpropagates (zero gradient)."""
    batch = _batch()
    model = _model()
    hidden = response_hidden(model, batch)
    full = head_token_stats(hidden, lm_head(model), batch.tokens, chunk_tokens=3)
    part = batch.mask.clone()
    part[0] = 0.0
    packed = head_token_stats(hidden, lm_head(model), batch.tokens, chunk_tokens=3, mask=part)
    m = part > 0
    assert torch.allclose(packed.logp[m], full.logp[m], atol=1e-6)
    assert (packed.logp[~m] == 0).all() and (packed.entropy[~m] == 0).all()
    none = head_token_stats(hidden, lm_head(model), batch.tokens,
                            mask=torch.zeros_like(batch.mask))
    (none.logp * 0).sum().backward()  # connected to the graph
