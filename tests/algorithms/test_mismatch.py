"""Train-inference mismatch corrections (TIS, MIS), the per-token loss mask in every loss,
and RLPT supports recomputed trainer-side: hand-computed cases and gradient checks."""

import math

import pytest
import torch

from focusrl.algorithms.config import AlgorithmConfig
from focusrl.algorithms.losses import LOSSES, LossInput
from focusrl.algorithms.mismatch import mismatch_weights
from focusrl.configtools import ConfigError
from focusrl.rollout.promising import covering_support, promising_support

# Two sequences of 3 tokens; trainer/engine ratios r = exp(log_r).
LOG_R = [[math.log(3.0), 0.0, math.log(0.5)], [math.log(1.5), math.log(1.5), 0.0]]
MASK = [[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]]


def _logps():
    engine = torch.full((2, 3), -1.0)
    return engine + torch.tensor(LOG_R), engine, torch.tensor(MASK)


def test_tis_caps_each_tokens_ratio_and_reports_the_statistics():
    trainer, engine, mask = _logps()
    w, st = mismatch_weights(trainer, engine, mask, tis_cap=2.0)
    assert torch.allclose(w, torch.tensor([[2.0, 1.0, 0.5], [1.5, 1.5, 1.0]]))
    assert st["tis_clipped"] == 1.0 and st["mis_masked"] == 0.0
    assert st["is_weight"] == pytest.approx(3.0 + 1.0 + 0.5 + 1.5 + 1.5)  # valid tokens
    assert st["is_weight_max"] == pytest.approx(3.0)
    k3 = lambda r: r - 1 - math.log(r)  # noqa: E731
    assert st["mismatch_kl"] == pytest.approx(k3(3.0) + k3(0.5) + 2 * k3(1.5))


def test_mis_masks_whole_sequences_by_their_geometric_mean_ratio():
    trainer, engine, mask = _logps()
    # geometric means: seq 0 (3 * 1 * 0.5)^(1/3) = 1.145, seq 1 (1.5 * 1.5)^(1/2) = 1.5
    w, st = mismatch_weights(trainer, engine, mask, mis_threshold=1.4)
    assert w.tolist() == [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]] and st["mis_masked"] == 1.0
    w, _ = mismatch_weights(trainer, engine, mask, tis_cap=2.0, mis_threshold=1.4)
    assert torch.allclose(w, torch.tensor([[2.0, 1.0, 0.5], [0.0, 0.0, 0.0]]))
    assert mismatch_weights(trainer, engine, mask)[0] is None  # both off: no weights


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_gives_no_gradient_to_masked_tokens_and_weights_its_policy_term(name):
    """A masked token (an environment token of an episode) gets exactly zero gradient in
    every registered loss, and a token weight of 0 removes a token's policy gradient."""
    cfg = AlgorithmConfig(loss=name, aggregation="token_mean" if name == "dapo" else (
        "seq_mean_token_sum_norm" if name == "dr_grpo" else "token_mean"),
        clip_cov_ratio=0.0, kl_cov_ratio=0.0, gspo_clip_eps_low=0.5, gspo_clip_eps_high=0.5)
    old = torch.log(torch.tensor([[0.4, 0.6, 0.3, 0.5]]))
    mask = torch.tensor([[1.0, 0.0, 1.0, 1.0]])

    def grad(weight=None):
        logp = (old + torch.tensor([[0.1, -0.2, 0.05, 0.0]])).requires_grad_()
        inp = LossInput(logp=logp, old_logp=old, advantages=torch.tensor([1.0]), mask=mask,
                        num_tokens=3.0, num_sequences=1.0, max_length=4,
                        proxy_logp=old.clone(), token_weight=weight)
        LOSSES[name](inp, cfg).loss.backward()
        return logp.grad[0]

    g = grad()
    assert g[1] == 0.0 and g[0] != 0.0
    gw = grad(torch.tensor([[1.0, 1.0, 0.0, 1.0]]))
    assert gw[2] == 0.0 and gw[1] == 0.0 and gw[0] == pytest.approx(float(g[0]))


def test_mismatch_options_are_validated():
    with pytest.raises(ConfigError, match="tis_cap"):
        AlgorithmConfig(tis_cap=0.5).validate()
    with pytest.raises(ConfigError, match="mis_threshold"):
        AlgorithmConfig(mis_threshold=1.0).validate()


def test_recomputed_support_matches_the_sampling_restriction_and_covers_the_token():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 50)
    _, engine_support = promising_support(logits.reshape(-1, 50), 4)
    tokens = engine_support[:, 1].reshape(2, 5)  # tokens sampled inside P_t
    support, missed = covering_support(logits, tokens, 4)
    assert torch.equal(support.reshape(-1, 4), engine_support) and not missed.any()
    outside = logits.argmin(-1)  # a token outside the top 4: replaces the last entry
    support, missed = covering_support(logits, outside, 4)
    assert missed.all() and torch.equal(support[..., -1], outside)
    assert torch.equal(support[..., :3], engine_support.reshape(2, 5, 4)[..., :3])
