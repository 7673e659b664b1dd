"""policy_update: gradient accumulation equals one big batch; non-finite steps are skipped."""

import copy

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
