"""The HF engine: sampler log-probs match the trainer's forward; stops, groups, seeds."""

import pytest
import torch

from focusrl.algorithms.logprobs import token_logprobs
from focusrl.models import build_char_tokenizer, build_tiny_model
from focusrl.rollout.hf_engine import HFEngine, filter_logits, gumbel_argmax
from focusrl.trainer.batching import build_batch, response_logits
from focusrl.types import GenerationRequest, Prompt, SamplingParams


@pytest.fixture(scope="module")
def engine():
    torch.set_num_threads(1)
    tok = build_char_tokenizer()
    model = build_tiny_model(tok, hidden_size=32, num_layers=2, num_heads=2,
                             intermediate_size=64, seed=0)
    return HFEngine(model, tok, "cpu", seed=0)


def _requests():
    prompts = [Prompt("a", "1+2="), Prompt("b", "13+45="), Prompt("c", "7+7+7=")]
    return [GenerationRequest(p, n, 10 + i) for i, (p, n) in enumerate(zip(prompts, [3, 1, 2]))]


def test_samples_carry_prompt_and_group_ids_in_request_order(engine):
    out = engine.generate(_requests(), SamplingParams(max_new_tokens=4))
    assert [(s.prompt_id, s.group_id) for s in out] == [
        ("a", 10), ("a", 10), ("a", 10), ("b", 11), ("c", 12), ("c", 12)]
    for s in out:
        assert 1 <= len(s.response_ids) <= 4 and len(s.logprobs) == len(s.response_ids)
        assert s.finished == (s.response_ids[-1] == engine.tokenizer.eos_token_id)


def test_sampler_logprobs_equal_the_training_forward(engine):
    """Left-padded KV-cached sampling and the right-padded training forward agree."""
    out = engine.generate(_requests(), SamplingParams(max_new_tokens=6, temperature=0.7))
    batch = build_batch(out, engine.tokenizer.pad_token_id, torch.device("cpu"))
    with torch.no_grad():
        logp = token_logprobs(response_logits(engine.model, batch, 0.7), batch.tokens)
    m = batch.mask > 0
    assert torch.allclose(logp[m], batch.sampler_logp[m], atol=1e-4)


def test_same_seed_same_samples_and_greedy_is_deterministic(engine):
    params = SamplingParams(max_new_tokens=5)
    engine.generator.manual_seed(123)
    a = [s.response_ids for s in engine.generate(_requests(), params)]
    engine.generator.manual_seed(123)
    b = [s.response_ids for s in engine.generate(_requests(), params)]
    assert a == b
    g = SamplingParams(max_new_tokens=5, greedy=True)
    greedy = [s.response_ids for s in engine.generate(_requests(), g)]
    assert greedy == [s.response_ids for s in engine.generate(_requests(), g)]
    assert greedy[0] == greedy[1] == greedy[2]  # one prompt, one greedy answer


def test_ignore_eos_generates_exactly_max_tokens(engine):
    out = engine.generate(_requests(), SamplingParams(max_new_tokens=7, ignore_eos=True))
    assert all(len(s.response_ids) == 7 and s.truncated for s in out)


def test_batching_in_chunks_matches_one_batch_for_greedy(engine):
    g = SamplingParams(max_new_tokens=5, greedy=True)
    whole = [s.response_ids for s in engine.generate(_requests(), g)]
    engine.batch_samples = 2
    try:
        chunked = [s.response_ids for s in engine.generate(_requests(), g)]
    finally:
        engine.batch_samples = 512
    assert chunked == whole


def test_rlpt_sampling_stays_in_support_and_records_it(engine):
    params = SamplingParams(max_new_tokens=5, promising_k=3)
    for s in engine.generate(_requests(), params):
        assert s.support.shape == (len(s.response_ids), 3)
        for t, tok in enumerate(s.response_ids):
            assert tok in s.support[t].tolist()
        assert 0 < s.stats["rlpt_mass"] <= 1
        assert s.stats["rlpt_leave_prob"] == pytest.approx(1 - s.stats["rlpt_mass"])


def test_top_k_and_top_p_filters():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, 2, 1.0)[0, 2:]).all()
    kept = ~torch.isinf(filter_logits(logits, 0, 0.8))
    assert kept.tolist() == [[True, True, False, False]]  # 0.5 + 0.3 reaches 0.8
    assert (~torch.isinf(filter_logits(logits, 0, 0.1))).sum() == 1  # always >= 1 token


def test_gumbel_sampler_draws_from_the_categorical_distribution():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05, 0.0])
    logp = torch.log(probs).expand(40_000, -1)  # the last token has probability 0 (-inf)
    gen = torch.Generator().manual_seed(0)
    draws = gumbel_argmax(logp, gen)
    freq = torch.bincount(draws, minlength=5).float() / len(draws)
    # binomial std at n=40000 is <= 0.0025; 4 std
    assert torch.allclose(freq, probs, atol=0.01), freq
    assert freq[4] == 0
    again = gumbel_argmax(logp, torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)  # reproducible from the generator's seed


def test_entropy_is_returned_per_generated_token(engine):
    out = engine.generate(_requests(), SamplingParams(max_new_tokens=4, return_entropy=True))
    vocab = len(engine.tokenizer)
    for s in out:
        assert len(s.token_entropy) == len(s.response_ids)
        assert all(0 <= h <= torch.log(torch.tensor(float(vocab))) + 1e-4
                   for h in s.token_entropy)
