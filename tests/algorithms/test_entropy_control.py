"""Clip-Cov, KL-Cov and Lp-Reg: which tokens are chosen and which receive gradient."""

import math

import pytest
import torch

from focusrl.algorithms.config import AlgorithmConfig
from focusrl.algorithms.entropy_losses import centred_covariance, lp_reg_selection
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


def _lp_inp(p, adv, proxy, mask=None, ratio=None):
    """Hand-made Lp-Reg batch from probabilities; proxy entries None mean 'dropped'."""
    logp = torch.tensor(p, dtype=torch.float64).log().requires_grad_(True)
    r = torch.ones_like(logp) if ratio is None else torch.tensor(ratio, dtype=torch.float64)
    prox = torch.tensor([[float("-inf") if q is None else math.log(q) for q in row]
                         for row in proxy], dtype=torch.float64)
    m = torch.ones_like(logp) if mask is None else torch.tensor(mask, dtype=torch.float64)
    return LossInput(logp, logp.detach() - r.log(), torch.tensor(adv, dtype=torch.float64), m,
                     float(m.sum()), float(m.shape[0]), proxy_logp=prox)


def _k3(q_over_p):
    d = math.log(q_over_p)
    return math.exp(d) - d - 1


def test_lp_reg_authors_rule_lowest_share_first_then_proxy_filter_unclipped():
    """Valid negative-advantage tokens: row 0 all four, row 1 tokens 1 and 2 -> n = 6;
    rho 0.5 -> k = 3 lowest by probability: (0,2) p .005, (0,0) p .01, (1,2) p .02.
    Proxy filter: (0,2) was dropped by the proxy -> out; (0,0) .0102 > .01 and (1,2)
    .025 > .02 -> regularised. (1,0) is lower still but has A > 0; (1,3) is masked.
    (0,0) has ratio 0.5 with A = -1: PPO would clip it (0.8, no gradient); the authors'
    rule uses the unclipped -A r = 0.5 (gradient 0.5) plus k3, gradient 1 - q/p."""
    inp = _lp_inp(p=[[0.01, 0.2, 0.005, 0.3], [0.001, 0.5, 0.02, 0.0001]],
                  adv=[[-1.0, -1.0, -1.0, -1.0], [1.0, -1.0, -1.0, -1.0]],
                  proxy=[[0.0102, 0.21, None, 0.31], [0.002, 0.52, 0.025, 0.0002]],
                  mask=[[1, 1, 1, 1], [1, 1, 1, 0]],
                  ratio=[[0.5, 1, 1, 1], [1, 1, 1, 1]])
    out = LOSSES["lp_reg"](inp, AlgorithmConfig(loss="lp_reg", lp_reg_rho=0.5))
    out.loss.backward()
    k3a, k3b = _k3(1.02), _k3(1.25)
    per_token = [0.5 + k3a, 1, 1, 1, -1, 1, 1 + k3b]
    assert out.loss.item() == pytest.approx(sum(per_token) / 7, abs=1e-12)
    grad = [[0.5 + 1 - 1.02, 1, 1, 1], [-1, 1, 1 + 1 - 1.25, 0]]
    assert inp.logp.grad.flatten().tolist() == pytest.approx([g / 7 for row in grad for g in row])
    assert out.metrics["lp_reg_selected"].item() == 2.0
    assert out.metrics["lp_reg_kl"].item() == pytest.approx(k3a + k3b)


@pytest.mark.parametrize("rho,proxy", [
    # n = 3 negatives, rho 0.01 -> k = max(1, 0) = 1 <= 1: the authors skip; the old
    # focusrl rule regularised token 0 here.
    (0.01, [[0.0102, 0.21, None, 0.002]]),
    # rho 0.5 -> k = 1: skipped as well.
    (0.5, [[0.0102, 0.21, None, 0.002]]),
    # rho 1.0 -> k = 3 lowest negatives (all of them), none below its proxy -> 0 tokens.
    (1.0, [[0.009, 0.19, None, 0.002]]),
])
def test_lp_reg_authors_rule_selects_nothing_and_is_plain_ppo(rho, proxy):
    kw = dict(p=[[0.01, 0.2, 0.005, 0.001]], adv=[[-1.0, -1.0, -1.0, 1.0]], proxy=proxy)
    inp, ref = _lp_inp(**kw), _lp_inp(**kw)
    out = LOSSES["lp_reg"](inp, AlgorithmConfig(loss="lp_reg", lp_reg_rho=rho))
    grpo = LOSSES["grpo"](ref, AlgorithmConfig(loss="grpo"))
    out.loss.backward()
    grpo.loss.backward()
    assert out.metrics["lp_reg_selected"].item() == 0.0
    assert out.loss.item() == pytest.approx(grpo.loss.item()) == pytest.approx(0.5)
    assert inp.logp.grad[0].tolist() == pytest.approx(ref.logp.grad[0].tolist())


def test_lp_reg_kl_is_capped_at_ten_like_the_authors_low_var_kl():
    """rho 1 -> k = 3; only token 0 is below its proxy, 20x: k3 = 20 - ln 20 - 1 = 16.0
    > 10, so its KL term is 10 with no gradient; its policy term -A r still has one."""
    inp = _lp_inp(p=[[0.001, 0.3, 0.3]], adv=[[-1.0, -1.0, -1.0]],
                  proxy=[[0.02, 0.29, 0.29]])
    out = LOSSES["lp_reg"](inp, AlgorithmConfig(loss="lp_reg", lp_reg_rho=1.0))
    out.loss.backward()
    assert _k3(20) > 10
    assert out.loss.item() == pytest.approx((1 + 10 + 1 + 1) / 3)
    assert inp.logp.grad[0].tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3])


def test_lp_reg_selection_matches_a_sorted_reference_on_random_batches():
    """The vectorised selection against a plain loop over the authors' steps (sort the
    negatives by log-prob, take k = max(1, int(rho n)), skip if k <= 1, keep logp < proxy)."""
    g = torch.Generator().manual_seed(0)
    for trial in range(20):
        b, t = 4, 50
        logp = torch.log(torch.rand(b, t, generator=g) * 0.5 + 1e-4)
        proxy = logp + torch.randn(b, t, generator=g) * 0.3
        proxy[torch.rand(b, t, generator=g) < 0.2] = float("-inf")
        adv = torch.randn(b, 1, generator=g).expand(b, t)
        mask = (torch.rand(b, t, generator=g) < 0.9).float()
        rho = [0.01, 0.05, 0.2][trial % 3]
        neg = [(i, j) for i in range(b) for j in range(t) if mask[i, j] > 0 and adv[i, j] < 0]
        k = max(1, int(rho * len(neg))) if neg else 0
        want = set()
        if k > 1:
            lowest = sorted(neg, key=lambda ij: logp[ij].item())[:k]
            want = {ij for ij in lowest if logp[ij] < proxy[ij]}
        got = lp_reg_selection(adv, logp, proxy, mask, rho)
        assert {tuple(ij) for ij in got.nonzero().tolist()} == want


def test_lp_reg_requires_proxy_logp():
    inp = _inp()
    with pytest.raises(ValueError, match="proxy_logp"):
        LOSSES["lp_reg"](inp, AlgorithmConfig(loss="lp_reg"))
