"""Peer check: our grpo, dapo and dr_grpo (and cispo, gspo) losses equal TRL's GRPOTrainer
loss (and its gradients) on identical per-token inputs. TRL is in the `dev` extra, so
this runs in CI.

We build a real GRPOTrainer on a tiny model and replace only its per-token log-prob
function, so the loss code under test is TRL's own `_compute_loss`, unmodified.
The KL clamp (which TRL lacks) is checked here too; the advantage estimators are checked
against TRL in test_vs_trl_advantages.py.
"""

import tempfile

import pytest
import torch

trl = pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

from transformers import Qwen2Config, Qwen2ForCausalLM  # noqa: E402

from focusrl.algorithms.config import AlgorithmConfig  # noqa: E402
from focusrl.algorithms.losses import LOSSES, LossInput  # noqa: E402
from focusrl.models.tiny import build_char_tokenizer  # noqa: E402

B, T = 4, 6
# our loss -> (TRL loss_type, TRL importance_sampling_level, our aggregation, eps_low, eps_high)
OURS = {
    "grpo": ("grpo", "token", "seq_mean_token_mean", 0.2, 0.2),
    "dapo": ("dapo", "token", "token_mean", 0.2, 0.28),
    "dr_grpo": ("dr_grpo", "token", "seq_mean_token_sum_norm", 0.2, 0.2),
    # beyond the three: TRL's CISPO (epsilon_high is the ratio cap) and GSPO
    # (loss_type grpo with a sequence-level ratio)
    "cispo": ("cispo", "token", "token_mean", 0.2, 1.1),
    "gspo": ("grpo", "sequence", "seq_mean_token_mean", 0.05, 0.08),
}


def _trl_trainer(loss_type, level, beta, eps_low, eps_high, kl_is):
    tok = build_char_tokenizer()
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                      max_position_embeddings=64)
    args = trl.GRPOConfig(
        output_dir=tempfile.mkdtemp(), per_device_train_batch_size=B, num_generations=2,
        max_completion_length=T, loss_type=loss_type, importance_sampling_level=level,
        beta=beta, epsilon=eps_low, epsilon_high=eps_high, use_bias_correction_kl=kl_is,
        report_to=[], use_cpu=True, save_strategy="no")
    model_dir = tempfile.mkdtemp()  # a path, so TRL can load its reference copy when beta > 0
    Qwen2ForCausalLM(cfg).save_pretrained(model_dir)
    trainer = trl.GRPOTrainer(
        model=model_dir, reward_funcs=lambda completions, **kw: [0.0] * len(
            completions), args=args, train_dataset=datasets.Dataset.from_dict(
            {"prompt": ["a", "b", "c", "d"]}), processing_class=tok)
    trainer.current_gradient_accumulation_steps = 1
    return trainer


@pytest.fixture(scope="module")
def batch():
    gen = torch.Generator().manual_seed(0)
    old = -torch.rand(B, T, generator=gen) * 3
    logp = old + 0.3 * torch.randn(B, T, generator=gen)  # ratios e^{+-0.3}: many clipped
    ref = old + 0.2 * torch.randn(B, T, generator=gen)
    lengths = torch.tensor([6, 3, 1, 5])
    mask = (torch.arange(T) < lengths.unsqueeze(-1)).long()
    adv = torch.tensor([1.2, -0.7, 0.4, -1.5])
    return logp, old, ref, mask, adv


# (beta, IS-weighted KL): no KL; GRPO's k3; TRL's default k3 * ratio (DeepSeek-V3.2)
KL_SETTINGS = [(0.0, False), (0.04, False), (0.04, True)]


# Not compared: gspo with the IS-weighted KL, a deliberate difference (TRL weights the KL
# by the sequence ratio there; we keep the token ratio, for which the estimate is unbiased).
CASES = [(name, beta, kl_is) for name in sorted(OURS) for beta, kl_is in KL_SETTINGS
         if not (OURS[name][1] == "sequence" and kl_is)]


def _trl_loss(trainer, logp0, mask, adv, old, ref=None):
    """TRL's own `_compute_loss` on given per-token log-probs (its forward replaced by
    them); returns (those log-probs, with their gradient after backward, and the loss)."""
    B, T = logp0.shape
    trl_logp = logp0.clone().requires_grad_()
    trainer._get_per_token_logps_and_entropies = (
        lambda *a, **k: (trl_logp, torch.zeros(B, T), None))
    inputs = {
        "prompt_ids": torch.ones(B, 2, dtype=torch.long),
        "prompt_mask": torch.ones(B, 2, dtype=torch.long),
        "completion_ids": torch.ones(B, T, dtype=torch.long),
        "completion_mask": mask, "advantages": adv, "old_per_token_logps": old,
        "num_items_in_batch": mask.sum(),
    }
    if ref is not None:
        inputs["ref_per_token_logps"] = ref
    trl_loss = trainer._compute_loss(trainer.model, inputs)
    trl_loss.backward()
    return trl_logp, trl_loss


@pytest.mark.parametrize("name, beta, kl_is", CASES)
def test_loss_and_gradients_match_trl(name, beta, kl_is, batch):
    logp0, old, ref, mask, adv = batch
    loss_type, level, aggregation, eps_low, eps_high = OURS[name]
    trainer = _trl_trainer(loss_type, level, beta, eps_low, eps_high, kl_is)

    trl_logp, trl_loss = _trl_loss(trainer, logp0, mask, adv, old, ref if beta else None)

    cfg = AlgorithmConfig(loss=name, aggregation=aggregation, clip_eps_low=eps_low,
                          clip_eps_high=eps_high, gspo_clip_eps_low=eps_low,
                          gspo_clip_eps_high=eps_high, cispo_ratio_max=eps_high, kl_coef=beta,
                          kl_estimator="k3", kl_clamp=0.0, kl_importance_weighted=kl_is)
    cfg.validate()
    our_logp = logp0.clone().requires_grad_()
    inp = LossInput(our_logp, old, adv, mask.float(), float(mask.sum()), float(B), T,
                    ref if beta else None)
    ours = LOSSES[name](inp, cfg).loss
    ours.backward()

    assert ours.item() == pytest.approx(trl_loss.item(), abs=1e-6)
    torch.testing.assert_close(our_logp.grad, trl_logp.grad, atol=1e-6, rtol=0)
    assert our_logp.grad[mask == 0].abs().sum() == 0


def test_kl_clamp_against_trl(batch):
    """TRL's k3 has no clamp. Ours clamps d = ref - logp to [-10, 10]: where |d| <= 10 the
    loss and gradients equal TRL's; two tokens pushed beyond (d ~ -15 and ~ +12) make our
    value equal TRL's own loss fed the clamped reference logp + clamp(d), and give those
    tokens no KL gradient (only the policy term's, from a kl_coef 0 run)."""
    logp0, old, ref, mask, adv = batch
    far = ref.clone()
    far[0, 1] -= 15.0
    far[3, 0] += 12.0
    d = (far - logp0).clamp(-10, 10)
    trainer = _trl_trainer("grpo", "token", 0.04, 0.2, 0.2, False)
    trl_logp, trl_loss = _trl_loss(trainer, logp0, mask, adv, old, logp0 + d)

    def ours(ref_logp, coef):
        cfg = AlgorithmConfig(loss="grpo", aggregation="seq_mean_token_mean", kl_coef=coef,
                              kl_estimator="k3", kl_clamp=10.0)
        lp = logp0.clone().requires_grad_()
        out = LOSSES["grpo"](LossInput(lp, old, adv, mask.float(), float(mask.sum()),
                                       float(B), T, ref_logp), cfg).loss
        out.backward()
        return out, lp.grad

    loss, grad = ours(far, 0.04)
    _, policy_grad = ours(None, 0.0)
    assert loss.item() == pytest.approx(trl_loss.item(), rel=1e-6)
    clamped = torch.zeros(B, T, dtype=torch.bool)
    clamped[0, 1] = clamped[3, 0] = True
    torch.testing.assert_close(grad[~clamped], trl_logp.grad[~clamped], atol=1e-6, rtol=0)
    torch.testing.assert_close(grad[clamped], policy_grad[clamped], atol=1e-7, rtol=0)
    assert (grad[clamped] - trl_logp.grad[clamped]).abs().min() > 1e-3  # TRL's does differ
