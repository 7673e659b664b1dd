"""Restricted (RLPT) log-probs vs brute force, gradient safety, KL estimator table."""

import math

import pytest
import torch

from focusrl.algorithms.kl import kl_estimate
from focusrl.algorithms.logprobs import (
    entropy_from_logits,
    restricted_token_logprobs,
    token_logprobs,
    token_stats,
)


def _random_support(b, t, v, k, gen):
    """(B, T, K) distinct ids per position with some -1 padding; tokens inside."""
    support = torch.stack([torch.randperm(v, generator=gen)[:k] for _ in range(b * t)])
    support = support.view(b, t, k)
    pad = torch.rand(b, t, k, generator=gen) < 0.3
    pad[..., 0] = False  # at least one valid id
    support = support.masked_fill(pad, -1)
    tokens = support[..., 0].clone()
    return support, tokens


def test_restricted_logprobs_equal_brute_force_softmax_over_support():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 11, generator=gen)
    support, tokens = _random_support(2, 3, 11, 5, gen)
    logp, ent = restricted_token_logprobs(logits, support, tokens)
    for b in range(2):
        for t in range(3):
            ids = [i for i in support[b, t].tolist() if i >= 0]
            z = sum(math.exp(logits[b, t, i].item()) for i in ids)
            probs = {i: math.exp(logits[b, t, i].item()) / z for i in ids}
            assert logp[b, t].item() == pytest.approx(math.log(probs[tokens[b, t].item()]),
                                                      abs=1e-6)
            brute_h = -sum(p * math.log(p) for p in probs.values())
            assert ent[b, t].item() == pytest.approx(brute_h, abs=1e-6)


def test_padded_positions_give_zero_and_finite_zero_gradients():
    logits = torch.randn(1, 3, 6, requires_grad=True)
    support = torch.tensor([[[2, 4, -1], [-1, -1, -1], [5, -1, -1]]])
    tokens = torch.tensor([[4, 0, 5]])
    logp, ent = restricted_token_logprobs(logits, support, tokens)
    assert logp[0, 1].item() == 0.0 and ent[0, 1].item() == 0.0
    assert logp[0, 2].item() == 0.0 and ent[0, 2].item() == 0.0  # one-token support: p = 1
    (logp.sum() + ent.sum()).backward()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad[0, 1].abs().sum() == 0  # padded position: no gradient
    # Gradient lands on support ids only: d logp / d logit_j = 1[j = token] - p_j.
    grad = logits.grad[0, 0]
    assert set(grad.nonzero().flatten().tolist()) <= {2, 4}


def test_token_outside_its_support_is_minus_inf():
    logits = torch.zeros(1, 1, 4)
    logp, _ = restricted_token_logprobs(logits, torch.tensor([[[0, 1]]]), torch.tensor([[3]]))
    assert logp.item() == float("-inf")


def test_entropy_with_minus_inf_logits_has_no_nan_gradient():
    logits = torch.tensor([[[0.0, 0.0, float("-inf")]]], requires_grad=True)
    h = entropy_from_logits(logits)
    assert h.item() == pytest.approx(math.log(2))
    h.sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_full_support_reproduces_unrestricted_values_and_gradients():
    gen = torch.Generator().manual_seed(1)
    base = torch.randn(2, 4, 7, generator=gen)
    tokens = torch.randint(0, 7, (2, 4), generator=gen)
    support = torch.stack([torch.randperm(7, generator=gen) for _ in range(8)]).view(2, 4, 7)
    a = base.clone().requires_grad_()
    b = base.clone().requires_grad_()
    full = token_stats(a, tokens, with_entropy=True, proxy_min_p=0.3)
    rest = token_stats(b, tokens, support, with_entropy=True, proxy_min_p=0.3)
    torch.testing.assert_close(rest.logp, full.logp, atol=1e-6, rtol=0)
    torch.testing.assert_close(rest.entropy, full.entropy, atol=1e-6, rtol=0)
    torch.testing.assert_close(rest.proxy_logp, full.proxy_logp, atol=1e-6, rtol=0)
    (full.logp.sum() + full.entropy.sum()).backward()
    (rest.logp.sum() + rest.entropy.sum()).backward()
    torch.testing.assert_close(b.grad, a.grad, atol=1e-6, rtol=0)
    torch.testing.assert_close(token_logprobs(base, tokens), full.logp)


def test_min_p_proxy_hand_case():
    p = torch.tensor([0.6, 0.3, 0.095, 0.005])  # min_p 0.02 * 0.6 = 0.012 drops 0.005
    logits = p.log().view(1, 4, 1).expand(1, 4, 4).transpose(1, 2).contiguous()  # (1, 4, 4)
    tokens = torch.tensor([[0, 1, 2, 3]])
    stats = token_stats(logits, tokens, proxy_min_p=0.02)
    want = [math.log(x / 0.995) for x in (0.6, 0.3, 0.095)] + [float("-inf")]
    assert stats.proxy_logp[0].tolist() == pytest.approx(want, abs=1e-6)
    assert stats.proxy_logp.requires_grad is False


# d = ref - logp; rows: (logp, ref_logp, estimator, clamp, value, d value / d logp)
LOG_HALF, LOG_QUARTER = math.log(0.5), math.log(0.25)
KL_TABLE = [
    (LOG_HALF, LOG_QUARTER, "k1", 10.0, -LOG_HALF, 1.0),  # k1 = -d, d = log 0.5
    (LOG_HALF, LOG_QUARTER, "k2", 10.0, 0.5 * LOG_HALF**2, -LOG_HALF),  # d/dlogp = -d
    (LOG_HALF, LOG_QUARTER, "k3", 10.0, 0.5 - LOG_HALF - 1, 1 - 0.5),  # 1 - exp(d)
    (-1.0, -1.0, "k3", 10.0, 0.0, 0.0),  # equal policies: zero KL, zero gradient
    (-25.0, -2.0, "k1", 10.0, -10.0, 0.0),  # d = 23 clamped to 10: no gradient
    (-25.0, -2.0, "k2", 0.0, 0.5 * 23**2, -23.0),  # clamp 0 disables the clamp
]


@pytest.mark.parametrize("logp, ref, est, clamp, value, grad", KL_TABLE)
def test_kl_estimator_table(logp, ref, est, clamp, value, grad):
    lp = torch.tensor(logp, requires_grad=True)
    ref_t = torch.tensor(ref, requires_grad=True)
    kl = kl_estimate(lp, ref_t, est, clamp)
    kl.backward()
    assert kl.item() == pytest.approx(value, abs=1e-6)
    assert lp.grad.item() == pytest.approx(grad, abs=1e-6)
    assert ref_t.grad is None or ref_t.grad.item() == 0.0  # the reference is frozen
