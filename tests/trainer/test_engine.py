"""The HF engine: sampler log-probs match the trainer's forward; stops, groups, seeds."""

import pytest
import torch

from focusrl.algorithms.logprobs import entropy_from_logits, token_logprobs
from focusrl.models import build_char_tokenizer, build_tiny_model
from focusrl.rollout.hf_engine import HFEngine, filter_logits, gumbel_argmax
from focusrl.trainer.batching import build_batch, response_logits
from focusrl.trainer.policy_scoring import PolicyScorer
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


def test_engine_state_resumes_its_random_stream_and_a_seeded_call_leaves_it_alone(engine):
    params = SamplingParams(max_new_tokens=5)
    state = engine.state_dict()
    a = [s.response_ids for s in engine.generate(_requests(), params)]
    engine.load_state_dict(state)
    seeded = SamplingParams(max_new_tokens=5, seed=7)
    s1 = [s.response_ids for s in engine.generate(_requests(), seeded)]  # private stream
    b = [s.response_ids for s in engine.generate(_requests(), params)]
    assert a == b
    assert s1 == [s.response_ids for s in engine.generate(_requests(), seeded)]
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


def test_samples_carry_version_loss_mask_and_their_own_meta(engine):
    """Every sample of a prompt gets its own meta dict: a reward writing into one sample's
    meta (the code reward writes its sandbox status there) must not show in the others."""
    prompt = Prompt("m", "1+2=", meta={"difficulty": 1})
    out = engine.generate([GenerationRequest(prompt, 3, 0)], SamplingParams(max_new_tokens=3))
    for i, s in enumerate(out):
        s.meta["sandbox"] = {"status": f"status-{i}"}
    assert [s.meta["sandbox"]["status"] for s in out] == ["status-0", "status-1", "status-2"]
    assert prompt.meta == {"difficulty": 1} and all(s.meta["difficulty"] == 1 for s in out)
    assert all(s.loss_mask == [1] * len(s.response_ids) for s in out)
    assert all(s.policy_version == engine.policy_version for s in out)


def test_sync_weights_records_the_version_and_copies_another_models_weights(engine):
    before = engine.state_dict()["policy_version"]
    assert engine.sync_weights(engine.model, 5)["sync_seconds"] >= 0
    assert engine.policy_version == 5
    other = build_tiny_model(engine.tokenizer, hidden_size=32, num_layers=2, num_heads=2,
                             intermediate_size=64, seed=1)
    saved = {k: v.clone() for k, v in engine.model.state_dict().items()}
    try:
        engine.sync_weights(other, 6)
        assert all(torch.equal(engine.model.state_dict()[k], v)
                   for k, v in other.state_dict().items())
    finally:
        engine.model.load_state_dict(saved)
        engine.sync_weights(engine.model, before)


def test_policy_scorer_gives_full_distribution_entropy_per_response_token(engine):
    """EDCO's entropies come from the trainer-side model, not from the engine."""
    out = engine.generate(_requests(), SamplingParams(max_new_tokens=4))
    scorer = PolicyScorer(engine.model, engine.tokenizer, torch.device("cpu"),
                          micro_batch_samples=2)
    ents = scorer.token_entropies(out)
    vocab = len(engine.tokenizer)
    batch = build_batch(out, engine.tokenizer.pad_token_id, torch.device("cpu"))
    with torch.no_grad():
        ref = entropy_from_logits(response_logits(engine.model, batch))
    for i, (s, h) in enumerate(zip(out, ents)):
        assert len(h) == len(s.response_ids)
        assert all(0 <= x <= torch.log(torch.tensor(float(vocab))) + 1e-4 for x in h)
        assert torch.allclose(torch.tensor(h), ref[i, : len(h)], atol=1e-4)


def test_request_with_prompt_ids_continues_exactly_those_ids(engine):
    ids = engine.tokenizer("12+3=", add_special_tokens=False).input_ids
    g = SamplingParams(max_new_tokens=4, greedy=True)
    by_text = engine.generate([GenerationRequest(Prompt("t", "12+3="), 1, 0)], g)[0]
    by_ids = engine.generate([GenerationRequest(Prompt("t", "ignored"), 1, 0, ids)], g)[0]
    assert by_ids.prompt_ids == ids and by_ids.response_ids == by_text.response_ids
