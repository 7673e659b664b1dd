"""policy_update: gradient accumulation equals one big batch; non-finite steps are skipped."""

import copy

import pytest
import torch

from focusrl.algorithms.config import AlgorithmConfig
from focusrl.models import build_char_tokenizer, build_tiny_model
from focusrl.trainer.batching import build_batch
from focusrl.trainer.optim import build_optimizer
from focusrl.trainer.update import policy_update
from focusrl.types import Sample


def _setup():
    torch.manual_seed(0)
    tok = build_char_tokenizer()
    model = build_tiny_model(tok, hidden_size=32, num_layers=1, num_heads=2,
                             intermediate_size=64, seed=0)
    samples = []
    for i, (p, r, adv) in enumerate([("1+1=", "2", 1.0), ("1+1=", "3", -1.0),
                                     ("12+3=", "15", 0.5), ("12+3=", "1", -0.5)]):
        ids = tok(r, add_special_tokens=False).input_ids + [tok.eos_token_id]
        samples.append(Sample(str(i), i // 2, tok(p, add_special_tokens=False).input_ids,
                              ids, [0.0] * len(ids), advantage=adv))
    return model, build_batch(samples, tok.pad_token_id, torch.device("cpu"))


def _grads_after(micro: int, algo: AlgorithmConfig):
    model, batch = _setup()
    opt, sched = build_optimizer(model, 1e-3, 0.0, (0.9, 0.99), 1e-8, 0, 10)
    grads = {}
    orig_step = opt.step

    def capture(*a, **k):
        for n, p in model.named_parameters():
            grads[n] = p.grad.clone()
        return orig_step(*a, **k)

    opt.step = capture
    res = policy_update(model, opt, sched, batch, algo, passes=1, micro_batch_samples=micro,
                        grad_clip=0.0, temperature=1.0, max_length=4)
    return grads, res


def test_micro_batches_accumulate_to_the_full_batch_gradient():
    for agg in ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"):
        algo = AlgorithmConfig(aggregation=agg)
        full, _ = _grads_after(4, algo)
        split, _ = _grads_after(1, algo)
        for name in full:
            assert torch.allclose(full[name], split[name], atol=1e-6), (agg, name)


def test_nan_loss_skips_the_update_and_reports_it():
    model, batch = _setup()
    before = copy.deepcopy(model.state_dict())
    bad = copy.copy(batch)
    bad.advantages = torch.tensor([float("nan"), 1.0, 0.0, 0.0])
    opt, sched = build_optimizer(model, 1e-2, 0.0, (0.9, 0.99), 1e-8, 0, 10)
    res = policy_update(model, opt, sched, bad, AlgorithmConfig(), passes=2,
                        micro_batch_samples=2, grad_clip=1.0, temperature=1.0, max_length=4)
    assert res.skipped_steps == 2 and res.metrics["skipped_updates"] == 2.0
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_update_moves_the_policy_towards_positive_advantages():
    model, batch = _setup()
    opt, sched = build_optimizer(model, 1e-2, 0.0, (0.9, 0.99), 1e-8, 0, 10)
    from focusrl.algorithms.logprobs import token_logprobs
    from focusrl.trainer.batching import response_logits

    def seq_logp():
        with torch.no_grad():
            lp = token_logprobs(response_logits(model, batch), batch.tokens)
        return (lp * batch.mask).sum(-1)

    start = seq_logp()
    for _ in range(3):
        policy_update(model, opt, sched, batch, AlgorithmConfig(), passes=1,
                      micro_batch_samples=4, grad_clip=1.0, temperature=1.0, max_length=4)
    delta = seq_logp() - start
    assert delta[0] > 0 and delta[1] < 0  # rewarded answer up, penalised one down


def test_batch_mask_follows_each_samples_loss_mask_and_checks_its_length():
    tok = build_char_tokenizer()
    a = Sample("a", 0, [5, 6], [7, 8, 9], [0.0] * 3, loss_mask=[1, 0, 1])
    b = Sample("b", 0, [5], [7, 8], [0.0] * 2)  # None: every token enters the loss
    batch = build_batch([a, b], tok.pad_token_id, torch.device("cpu"))
    assert batch.mask.tolist() == [[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]
    bad = Sample("c", 0, [5], [7, 8], [0.0] * 2, loss_mask=[1])
    with pytest.raises(ValueError, match="loss_mask has 1 entries for 2 response tokens"):
        build_batch([bad], tok.pad_token_id, torch.device("cpu"))


def test_rlpt_support_recomputed_trainer_side_equals_the_engines():
    """An engine that returns no support (vLLM) gets it recomputed from the trainer's
    logits; with the same weights it is the HF engine's own support, so the update's
    metrics are the same."""
    from focusrl.algorithms.config import RLPTConfig
    from focusrl.rollout.hf_engine import HFEngine
    from focusrl.types import GenerationRequest, Prompt, SamplingParams

    tok = build_char_tokenizer()
    results = []
    for strip in (False, True):
        model = build_tiny_model(tok, hidden_size=32, num_layers=1, num_heads=2,
                                 intermediate_size=64, seed=0)
        engine = HFEngine(model, tok, seed=0)
        reqs = [GenerationRequest(Prompt(str(i), f"{i}+1="), 4, i) for i in range(3)]
        samples = engine.generate(reqs, SamplingParams(max_new_tokens=5, promising_k=4))
        for j, s in enumerate(samples):
            s.advantage = 1.0 if j % 2 else -1.0
            if strip:
                s.support = None
        batch = build_batch(samples, tok.pad_token_id, torch.device("cpu"))
        opt, sched = build_optimizer(model, 1e-3, 0.0, (0.9, 0.99), 1e-8, 0, 10)
        res = policy_update(model, opt, sched, batch,
                            AlgorithmConfig(rlpt=RLPTConfig(enabled=True, k=4)), passes=2,
                            micro_batch_samples=4, grad_clip=1.0, temperature=1.0,
                            max_length=5)
        results.append(res.metrics)
    kept, recomputed = results
    assert recomputed["rlpt_support_miss"] == 0.0
    for key in ("loss", "entropy", "logp_mismatch", "grad_norm"):
        assert recomputed[key] == pytest.approx(kept[key], rel=1e-5, abs=1e-7), key


def test_a_run_syncs_weights_versions_samples_and_logs_the_mismatch(tmp_path):
    """train(): the weight-sync stage runs after every update, samples are never stale in
    synchronous training, and the mismatch corrections log their statistics."""
    from focusrl.config import load_config
    from focusrl.trainer.logging import read_metrics
    from focusrl.trainer.rl import train

    cfg = load_config(None, [
        "model.tiny.hidden_size=32", "model.tiny.num_layers=1", "model.tiny.num_heads=2",
        "model.tiny.intermediate_size=64", "data.num_train=50", "data.num_eval=4",
        "rollout.prompts_per_step=2", "rollout.samples_per_prompt=4",
        "rollout.max_response_tokens=3", "train.progress=false", "train.steps=2",
        "train.eval_every=0", "train.checkpoint_every=0", "algorithm.tis_cap=2",
        "algorithm.mis_threshold=1.5", "threads=1", f"run_dir={tmp_path}"])
    train(cfg)
    rows = read_metrics(tmp_path / "metrics.jsonl")
    for r in rows:
        assert r["staleness_max"] == 0.0 and r["time_sync"] >= 0.0
        # the HF engine samples with the trainer's weights: ratios ~1, nothing masked
        assert r["is_weight_mean"] == pytest.approx(1.0, abs=1e-3)
        assert r["mis_masked_frac"] == 0.0 and r["tis_clipped_frac"] == 0.0
        assert 0.0 <= r["mismatch_kl"] < 1e-5


def test_an_on_step_hook_adds_metrics_and_ends_the_run_as_its_last_step(tmp_path):
    """train(on_step=...): what the hook adds is logged with the step; returning True ends
    the run there, evaluated and checkpointed as its last step (benchmarks stop at a sample
    budget this way instead of copying the loop)."""
    from focusrl.config import load_config
    from focusrl.trainer.logging import read_metrics
    from focusrl.trainer.rl import train

    cfg = load_config(None, [
        "model.tiny.hidden_size=32", "model.tiny.num_layers=1", "model.tiny.num_heads=2",
        "model.tiny.intermediate_size=64", "data.num_train=50", "data.num_eval=4",
        "rollout.prompts_per_step=2", "rollout.samples_per_prompt=4",
        "rollout.max_response_tokens=3", "train.progress=false", "train.steps=6",
        "train.eval_every=0", "train.checkpoint_every=0", "threads=1", f"run_dir={tmp_path}"])
    seen = []

    def on_step(c, step, record, samples):
        seen.append(len(samples))
        record["seen_samples"] = float(sum(seen))
        return step == 2

    train(cfg, on_step=on_step)
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2] and seen == [8, 8]
    assert [r["seen_samples"] for r in rows] == [8.0, 16.0]
    assert "eval/accuracy" in rows[1] and "eval/accuracy" not in rows[0]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["latest",
                                                                        "step_000002"]
    for r in rows:  # share of samples with a gradient: zero exactly when no group has one
        assert 0.0 <= r["samples_nonzero_adv"] <= 1.0
        assert (r["samples_nonzero_adv"] == 0.0) == (r["groups_nonzero_adv"] == 0.0)
