"""Clip-Cov, KL-Cov and Lp-Reg: which tokens are chosen and which receive gradient."""

import math

import pytest
import torch

from focusrl.algorithms.config import AlgorithmConfig
from focusrl.algorithms.entropy_losses import centred_covariance
from focusrl.algorithms.losses import LOSSES, LossInput

# logp mean is -1.6; tokens 2 and 3 sit at the mean, so their cov is 0 whatever A is.
LOGP = [-0.1, -3.1, -1.6, -1.6]
ADV = [2.0, -2.0, 1.0, -1.0]  # mean 0 -> cov = [2 * 1.5, -2 * -1.5, 0, 0] = [3, 3, 0, 0]


def _inp(log_ratio=(0.0, 0.0, 0.0, 0.0), seed=0):
    logp = torch.tensor([LOGP], requires_grad=True)
    old = logp.detach() - torch.tensor([log_ratio])
    return LossInput(logp, old, torch.tensor([ADV]), torch.ones(1, 4), 4.0, 1.0,
                     generator=torch.Generator().manual_seed(seed))


def test_covariance_table():
    cov = centred_covariance(torch.tensor([ADV]), torch.tensor([LOGP]), torch.ones(1, 4))
    assert cov[0].tolist() == pytest.approx([3.0, 3.0, 0.0, 0.0], abs=1e-6)
    masked = centred_covariance(torch.tensor([ADV]), torch.tensor([LOGP]),
                                torch.tensor([[1.0, 1.0, 0.0, 0.0]]))
    assert masked[0, 2].item() == float("-inf")  # masked tokens can never be chosen


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_clip_cov_detaches_one_random_token_inside_the_window(seed):
    """ratio 0.25 of 4 valid tokens = 1 token, drawn from {0, 1} (cov 3 in (1, 5)).
    PPO gradients (token_mean over 4) are -A r / 4 = [-0.5, 0.5, -0.25, 0.25]."""
    cfg = AlgorithmConfig(loss="clip_cov", clip_cov_ratio=0.25)
    inp = _inp(seed=seed)
    out = LOSSES["clip_cov"](inp, cfg)
    out.loss.backward()
    grad = inp.logp.grad[0].tolist()
    zeroed = [i for i, g in enumerate(grad) if g == 0.0]
    assert len(zeroed) == 1 and zeroed[0] in (0, 1)
    full = [-0.5, 0.5, -0.25, 0.25]
    assert [g for i, g in enumerate(grad) if i != zeroed[0]] == pytest.approx(
        [g for i, g in enumerate(full) if i != zeroed[0]])
    assert out.loss.item() == pytest.approx(sum(-a for a in ADV) / 4)  # value kept
    assert out.metrics["cov_detached"].item() == 1.0


def test_clip_cov_skips_tokens_the_ppo_clip_already_removed():
    """Token 0 has ratio 1.5 with A > 0: PPO-clipped, so only token 1 can be detached,
    even with a share that allows two tokens. Token 0 has no gradient either way."""
    cfg = AlgorithmConfig(loss="clip_cov", clip_cov_ratio=0.5)
    inp = _inp(log_ratio=(math.log(1.5), 0.0, 0.0, 0.0))
    out = LOSSES["clip_cov"](inp, cfg)
    out.loss.backward()
    assert inp.logp.grad[0].tolist() == pytest.approx([0.0, 0.0, -0.25, 0.25])
    assert out.metrics["cov_detached"].item() == 1.0


def test_clip_cov_window_excludes_large_covariance():
    cfg = AlgorithmConfig(loss="clip_cov", clip_cov_ratio=0.5, clip_cov_ub=2.0)
    inp = _inp()
    LOSSES["clip_cov"](inp, cfg).loss.backward()
    assert inp.logp.grad[0].tolist() == pytest.approx([-0.5, 0.5, -0.25, 0.25])


def test_kl_cov_adds_abs_log_ratio_to_top_cov_tokens():
    """Share 0.5 -> the 2 top-cov tokens (0 and 1) get + |log r|. Token 0: r = 1.5;
    token 1: r = 0.5. Loss per token: -A r + |log r|; gradient -A r + sign(log r)."""
    cfg = AlgorithmConfig(loss="kl_cov", kl_cov_ratio=0.5)
    inp = _inp(log_ratio=(math.log(1.5), math.log(0.5), 0.0, 0.0))
    out = LOSSES["kl_cov"](inp, cfg)
    out.loss.backward()
    per_token = [-3.0 + math.log(1.5), 1.0 + math.log(2.0), -1.0, 1.0]
    assert out.loss.item() == pytest.approx(sum(per_token) / 4, abs=1e-6)
    assert inp.logp.grad[0].tolist() == pytest.approx(
        [(-3.0 + 1) / 4, (1.0 - 1) / 4, -0.25, 0.25], abs=1e-6)


def test_lp_reg_protects_the_lowest_probability_negative_token():
    """A = -1 everywhere, ratio 1. Proxy log-probs: token 0 0.0102 (> 0.01: eligible),
    token 1 0.21 (> 0.2: eligible), token 2 dropped (-inf: not eligible), token 3 has A>0.
    rho 0.01 of 2 eligible -> 1 token, the least probable: token 0.
    k3 with d = log(0.0102 / 0.01): exp(d) - d - 1; d k3 / d logp = 1 - exp(d) = -0.02."""
    p = [0.01, 0.2, 0.005, 0.001]
    logp = torch.tensor([p], requires_grad=True)
    logp_l = logp.log()
    logp_l.retain_grad()
    adv = torch.tensor([[-1.0, -1.0, -1.0, 1.0]])
    proxy = torch.tensor([[math.log(0.0102), math.log(0.21), float("-inf"), 0.0]])
    inp = LossInput(logp_l, logp_l.detach(), adv, torch.ones(1, 4), 4.0, 1.0,
                    proxy_logp=proxy)
    out = LOSSES["lp_reg"](inp, AlgorithmConfig(loss="lp_reg"))
    out.loss.backward()
    d = math.log(1.02)
    k3 = math.exp(d) - d - 1
    assert out.loss.item() == pytest.approx((1 + 1 + 1 - 1 + k3) / 4, abs=1e-7)
    assert logp_l.grad[0].tolist() == pytest.approx([(1 - 0.02) / 4, 0.25, 0.25, -0.25],
                                                    abs=1e-6)
    assert out.metrics["lp_reg_selected"].item() == 1.0


def test_lp_reg_requires_proxy_logp():
    inp = _inp()
    with pytest.raises(ValueError, match="proxy_logp"):
        LOSSES["lp_reg"](inp, AlgorithmConfig(loss="lp_reg"))
