"""Hand-computed loss tables: values and which tokens receive gradient."""

import math

import pytest
import torch

from focusrl.algorithms.config import AlgorithmConfig
from focusrl.algorithms.losses import LOSSES, LossInput

# One sequence, 4 positions, the last masked. Ratios 1.5, 0.5, 1.0 on the valid tokens.
OLD_P = [0.4, 0.6, 0.3, 0.5]
RATIO = [1.5, 0.5, 1.0, 1.0]
MASK = [1.0, 1.0, 1.0, 0.0]
L3, L6 = math.log(0.3), math.log(0.4 * 1.5)  # logp of tokens 2 and 0


def _inp(adv, ratio=RATIO, **kw):
    old = torch.tensor(OLD_P).log().unsqueeze(0)
    logp = (old + torch.tensor(ratio).log()).requires_grad_()
    return LossInput(logp=logp, old_logp=old, advantages=torch.tensor(adv),
                     mask=torch.tensor([MASK]), num_tokens=3.0, num_sequences=1.0, **kw)


# (loss, config overrides, advantage, per-token loss (valid tokens), d loss_t / d logp_t)
# A token with d = 0 is one that receives no gradient.
TABLE = [
    # PPO clip (GRPO/DAPO/Dr.GRPO term), symmetric 0.2: token 0 clipped at 1.2 for A > 0.
    ("grpo", {}, [1.0], [-1.2, -0.5, -1.0], [0.0, -0.5, -1.0]),
    # A < 0: token 1 (ratio 0.5 < 0.8) is clipped; token 0 is not (no upper clip for A < 0).
    ("grpo", {}, [-1.0], [1.5, 0.8, 1.0], [1.5, 0.0, 1.0]),
    # DAPO clip-higher: the upper clip moves to 1.28.
    ("dapo", {"clip_eps_high": 0.28}, [1.0], [-1.28, -0.5, -1.0], [0.0, -0.5, -1.0]),
    ("dr_grpo", {"aggregation": "seq_mean_token_sum_norm"}, [2.0], [-2.4, -1.0, -2.0],
     [0.0, -1.0, -2.0]),
    # CISPO, ratio_max 1.2: -sg(min(r, 1.2)) * A * logp. Every token keeps its gradient.
    ("cispo", {"cispo_ratio_max": 1.2}, [1.0],
     [-1.2 * L6, -0.5 * math.log(0.3), -1.0 * L3], [-1.2, -0.5, -1.0]),
    ("cispo", {"cispo_ratio_max": 1.2}, [-1.0],
     [1.2 * L6, 0.5 * math.log(0.3), L3], [1.2, 0.5, 1.0]),
    # KL-Cov, per-token A = [2, 1, 0]: cov = (A - 1)(logp - mean logp) = [0.462, 0, 0.231];
    # a zero share still picks one token, the top-cov token 0: + |log 1.5|, gradient
    # -A r + 1 = -2. No PPO clip: token 0 (ratio 1.5, A > 0) keeps its gradient.
    ("kl_cov", {"kl_cov_ratio": 0.0}, [[2.0, 1.0, 0.0, 0.0]],
     [-3.0 + math.log(1.5), -0.5, 0.0], [-2.0, -0.5, 0.0]),
]


@pytest.mark.parametrize("name, over, adv, per_token, grads", TABLE)
def test_loss_table(name, over, adv, per_token, grads):
    cfg = AlgorithmConfig(loss=name, **over)
    inp = _inp(adv, max_length=8)
    out = LOSSES[name](inp, cfg)
    out.loss.backward()
    denom = 8.0 if cfg.aggregation == "seq_mean_token_sum_norm" else 3.0
    assert out.loss.item() == pytest.approx(sum(per_token) / denom, abs=1e-6)
    assert inp.logp.grad[0, :3].tolist() == pytest.approx([g / denom for g in grads], abs=1e-6)
    assert inp.logp.grad[0, 3].item() == 0.0  # masked position


def test_clip_frac_counts_clipped_valid_tokens():
    out = LOSSES["grpo"](_inp([1.0], ratio=[1.5, 1.5, 1.0, 9.0]), AlgorithmConfig())
    assert out.metrics["clip_frac"].item() == 2.0  # the masked 9.0 is not counted


def test_gspo_sequence_ratio_table():
    """s = exp(mean log r) = exp((log 1.5 + log 0.5) / 3) = 0.908560; clip [1-3e-4, 1+4e-4]."""
    s = math.exp((math.log(1.5) + math.log(0.5)) / 3)
    cfg = AlgorithmConfig(loss="gspo", aggregation="seq_mean_token_mean")
    inp = _inp([1.0])  # A > 0, s < 1: the low side is not clipped for A > 0 -> gradient
    out = LOSSES["gspo"](inp, cfg)
    out.loss.backward()
    assert out.loss.item() == pytest.approx(-s, abs=1e-6)
    assert inp.logp.grad[0].tolist() == pytest.approx([-s / 3] * 3 + [0.0], abs=1e-6)
    inp = _inp([-1.0])  # A < 0, s < 1 - 3e-4: clipped -> no token gets gradient
    out = LOSSES["gspo"](inp, cfg)
    out.loss.backward()
    assert out.loss.item() == pytest.approx(1 - 3e-4, abs=1e-6)
    assert inp.logp.grad.abs().sum().item() == 0.0
    assert out.metrics["clip_frac"].item() == 3.0


def test_gspo_token_form_equals_direct_sequence_ratio():
    gen = torch.Generator().manual_seed(0)
    old = -torch.rand(3, 5, generator=gen)
    lp = (old + 0.01 * torch.randn(3, 5, generator=gen)).requires_grad_()
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]).float()
    adv = torch.tensor([0.7, -1.2, 0.3])
    cfg = AlgorithmConfig(loss="gspo", aggregation="seq_mean_token_mean",
                          gspo_clip_eps_low=0.005, gspo_clip_eps_high=0.005)
    inp = LossInput(lp, old, adv, mask, float(mask.sum()), 3.0)
    LOSSES["gspo"](inp, cfg).loss.backward()
    ours = lp.grad.clone()
    lp.grad = None
    s = torch.exp(((lp - old) * mask).sum(-1) / mask.sum(-1))  # (B,), the paper's form
    direct = torch.maximum(-adv * s, -adv * s.clamp(1 - 0.005, 1 + 0.005)).mean()
    direct.backward()
    torch.testing.assert_close(ours, lp.grad, atol=1e-7, rtol=0)


def test_kl_and_entropy_regularisers_add_per_token():
    """logp - ref = log 2 on every token: k3 = 0.5 + log 0.5 ... = 0.193147, grad 0.5."""
    k3 = math.exp(math.log(0.5)) - math.log(0.5) - 1
    ent = torch.tensor([[1.0, 2.0, 3.0, 100.0]], requires_grad=True)
    inp = _inp([0.0], ratio=[1.0] * 4, entropy=ent)
    inp.ref_logp = inp.logp.detach() + math.log(0.5)
    cfg = AlgorithmConfig(kl_coef=0.1, entropy_coef=0.01)
    out = LOSSES["grpo"](inp, cfg)
    out.loss.backward()
    assert out.loss.item() == pytest.approx((3 * 0.1 * k3 - 0.01 * 6.0) / 3, abs=1e-6)
    assert inp.logp.grad[0].tolist() == pytest.approx([0.1 * 0.5 / 3] * 3 + [0.0], abs=1e-6)
    assert ent.grad[0].tolist() == pytest.approx([-0.01 / 3] * 3 + [0.0], abs=1e-7)
    assert out.metrics["kl"].item() == pytest.approx(3 * k3, abs=1e-6)
    assert out.metrics["entropy"].item() == pytest.approx(6.0)


AGGREGATIONS = ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"]


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
@pytest.mark.parametrize("name", ["grpo", "gspo", "cispo"])
def test_micro_batch_losses_sum_to_the_batch_loss(name, aggregation):
    gen = torch.Generator().manual_seed(3)
    b, t = 6, 5
    old = -torch.rand(b, t, generator=gen) * 2
    logp = (old + 0.3 * torch.randn(b, t, generator=gen)).requires_grad_()
    lengths = torch.tensor([5, 1, 3, 4, 2, 5])
    mask = (torch.arange(t) < lengths.unsqueeze(-1)).float()
    adv = torch.randn(b, generator=gen)
    ref = old - 0.1
    cfg = AlgorithmConfig(loss=name, aggregation=aggregation, kl_coef=0.05,
                          gspo_clip_eps_low=0.1, gspo_clip_eps_high=0.1)

    def run(rows):
        return LOSSES[name](LossInput(logp[rows], old[rows], adv[rows], mask[rows],
                                      float(mask.sum()), float(b), 7, ref[rows]), cfg).loss

    full = run(slice(0, b))
    (g_full,) = torch.autograd.grad(full, logp)
    parts = [run(slice(i, i + 2)) for i in range(0, b, 2)]
    (g_parts,) = torch.autograd.grad(sum(parts), logp)
    assert sum(p.item() for p in parts) == pytest.approx(full.item(), abs=1e-6)
    torch.testing.assert_close(g_parts, g_full, atol=1e-7, rtol=0)
