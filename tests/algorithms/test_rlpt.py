"""RLPT: the sampling-time restriction, its diagnostics, and
K = vocabulary reproducing the unrestricted losses and gradients."""

import math

import pytest
import torch

from focusrl.algorithms.config import AlgorithmConfig
from focusrl.algorithms.logprobs import restricted_token_logprobs, token_stats
from focusrl.algorithms.losses import LOSSES, LossInput, token_stats_kwargs
from focusrl.rollout.promising import promising_support, support_stats

NEG = float("-inf")
# probabilities 0.5, 0.25, 0.15, 0.1 (ids 2, 0, 3, 1)
PROBS = torch.tensor([0.25, 0.1, 0.5, 0.15])
LOGITS = PROBS.log().unsqueeze(0)


# (k, top_p, max_k, expected support)
SUPPORT_TABLE = [
    (1, 1.0, 0, [2]),
    (2, 1.0, 0, [2, 0]),
    (3, 1.0, 0, [2, 0, 3]),
    (1, 0.7, 4, [2, 0, -1, -1]),  # mass before 0: 0 and 0.5 < 0.7; 0.75 >= 0.7 stops
    (1, 0.75, 4, [2, 0, -1, -1]),  # 0.5 + 0.25 reaches 0.75: two tokens suffice
    (3, 0.5, 4, [2, 0, 3, -1]),  # nucleus gives 1 token; the minimum k = 3 wins
    (1, 0.99, 2, [2, 0]),  # nucleus wants 4; max_k caps the stored width at 2
    (9, 1.0, 0, [2, 0, 3, 1]),  # k > V: the whole vocabulary
]


@pytest.mark.parametrize("k, top_p, max_k, want", SUPPORT_TABLE)
def test_promising_support_table(k, top_p, max_k, want):
    restricted, support = promising_support(LOGITS, k, top_p, max_k)
    assert support[0].tolist() == want
    kept = {i for i in want if i >= 0}
    for i in range(4):
        expect = LOGITS[0, i].item() if i in kept else NEG
        assert restricted[0, i].item() == expect


def test_minus_inf_logits_never_enter_the_support():
    logits = torch.tensor([[0.0, NEG, 1.0, NEG]])
    restricted, support = promising_support(logits, 3)
    assert support[0].tolist() == [2, 0, -1]
    assert restricted[0].tolist() == [0.0, NEG, 1.0, NEG]


def test_samples_from_the_restricted_logits_stay_in_the_support():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 50, generator=gen)
    restricted, support = promising_support(logits, 5)
    draws = torch.multinomial(torch.softmax(restricted, -1), 20, replacement=True,
                              generator=gen)  # (64, 20)
    assert (support.unsqueeze(1) == draws.unsqueeze(-1)).any(-1).all()
    # The loss's restricted log-prob of a draw equals its log-prob under the sampler.
    tokens = draws[:, :1]
    logp, _ = restricted_token_logprobs(logits.unsqueeze(1), support.unsqueeze(1), tokens)
    sampler_logp = torch.log_softmax(restricted, -1).gather(-1, tokens)
    torch.testing.assert_close(logp, sampler_logp, atol=1e-6, rtol=0)


def test_support_stats_hand_case():
    """Top-2 of (0.5, 0.25, 0.15, 0.1) holds 0.75; an unrestricted sample leaves it
    with probability 0.25. Row 2 keeps only one token of (0.5, 0.5): mass 0.5."""
    logits = torch.stack([LOGITS[0], torch.tensor([0.0, 0.0, NEG, NEG])])
    support = torch.tensor([[2, 0], [1, -1]])
    stats = support_stats(logits, support)
    assert stats["support_size"] == pytest.approx(1.5)
    assert stats["support_mass"] == pytest.approx((0.75 + 0.5) / 2)
    assert stats["escape_prob"] == pytest.approx((0.25 + 0.5) / 2)
    assert stats["positions"] == 2.0


def test_escape_sampled_estimates_escape_prob():
    logits = LOGITS.expand(20000, 4)
    _, support = promising_support(logits, 2)
    stats = support_stats(logits, support, torch.Generator().manual_seed(0))
    assert stats["escape_sampled"] == pytest.approx(0.25, abs=0.015)  # ~5 sigma


def _batch(gen, b=3, t=4, v=6):
    logits = torch.randn(b, t, v, generator=gen)
    ref_logits = logits + 0.3 * torch.randn(b, t, v, generator=gen)
    tokens = torch.randint(0, v, (b, t), generator=gen)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]]).float()
    support = torch.stack([torch.randperm(v, generator=gen) for _ in range(b * t)])
    return logits, ref_logits, tokens, mask, support.view(b, t, v)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_k_equal_vocabulary_reproduces_unrestricted_losses_and_gradients(name):
    gen = torch.Generator().manual_seed(7)
    logits, ref_logits, tokens, mask, support = _batch(gen)
    cfg = AlgorithmConfig(loss=name, kl_coef=0.1, entropy_coef=0.01, clip_cov_ratio=0.2,
                          kl_cov_ratio=0.2, lp_reg_rho=1.0, lp_reg_min_p=0.3,
                          aggregation="seq_mean_token_sum_norm" if name == "dr_grpo"
                          else "token_mean")
    adv = torch.tensor([1.0, -0.5, -1.0])
    results = []
    for sup in (None, support):
        leaf = logits.clone().requires_grad_()
        stats = token_stats(leaf, tokens, sup, **token_stats_kwargs(cfg))
        old = token_stats(logits - 0.05 * ref_logits, tokens, sup).logp
        ref = token_stats(ref_logits, tokens, sup).logp
        inp = LossInput(stats.logp, old, adv, mask, float(mask.sum()), 3.0, 4, ref,
                        stats.entropy, stats.proxy_logp, torch.Generator().manual_seed(1))
        out = LOSSES[name](inp, cfg)
        out.loss.backward()
        results.append((out.loss.detach(), leaf.grad))
    (loss_full, grad_full), (loss_k, grad_k) = results
    torch.testing.assert_close(loss_k, loss_full, atol=1e-6, rtol=0)
    torch.testing.assert_close(grad_k, grad_full, atol=1e-6, rtol=0)
    assert grad_full.abs().sum() > 0


def test_restriction_changes_the_loss_when_k_is_small():
    """Sanity of the test above: with K = 2 the renormalised log-probs differ."""
    gen = torch.Generator().manual_seed(7)
    logits, _, _, _, _ = _batch(gen)
    _, support = promising_support(logits.view(-1, 6), 2)
    support = support.view(3, 4, 2)
    tokens = support[..., 0]
    full = token_stats(logits, tokens).logp
    restricted = token_stats(logits, tokens, support).logp
    assert (restricted > full).all()  # renormalising over fewer tokens raises p
    assert math.isfinite(restricted.sum().item())
