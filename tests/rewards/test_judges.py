"""SIRLC self-evaluation and reward models, on tiny randomly initialised models."""

from __future__ import annotations

import pytest
import torch

from focusrl.models.tiny import build_char_tokenizer, build_tiny_model
from focusrl.rewards.judges import (
    RewardModelReward,
    SelfEvalReward,
    first_token_ids,
    left_pad,
    parse_score,
)
from focusrl.types import Sample


@pytest.fixture(scope="module")
def tiny():
    tok = build_char_tokenizer()
    return build_tiny_model(tok, hidden_size=32, num_layers=2, num_heads=2,
                            intermediate_size=64, seed=3), tok


def _samples():
    pairs = [("12+34=", "46"), ("2+2=", "5"), ("What is 7*6?", "It is 42, I think."),
             ("1+1=", "2")]
    return [Sample(f"p{i}", i, [], [], [], prompt_text=q, response_text=a)
            for i, (q, a) in enumerate(pairs)]


def test_left_pad_counts_positions_from_the_first_real_token():
    ids, mask, pos = left_pad([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert pos.tolist() == [[0, 1, 2], [0, 0, 0]]


def test_p_yes_is_the_next_token_probability_of_the_yes_tokens(tiny):
    model, tok = tiny
    judge = SelfEvalReward(policy=model, tokenizer=tok, yes_words=("yes", "Yes"),
                           no_words=("no", "No"))
    sample = _samples()[0]
    got = judge.score([sample])[0]
    ids = torch.tensor([tok(judge.prompt(sample))["input_ids"]])
    with torch.no_grad():
        probs = torch.softmax(model(input_ids=ids).logits[0, -1], dim=-1)
    y, big_y = tok.convert_tokens_to_ids(["y", "Y"])
    assert judge.yes_ids == [y, big_y]  # the char tokenizer: first tokens 'y' and 'Y'
    assert got == pytest.approx(float(probs[y] + probs[big_y]), abs=1e-6)
    assert 0.0 < got < 1.0


def test_batched_scores_equal_one_at_a_time(tiny):
    model, tok = tiny
    batched = SelfEvalReward(policy=model, tokenizer=tok, batch_size=4)
    single = SelfEvalReward(policy=model, tokenizer=tok, batch_size=1)
    samples = _samples()
    assert batched.score(samples) == pytest.approx(single.score(samples), abs=1e-5)


def test_normalised_yes_no_sums_to_one_with_p_no(tiny):
    model, tok = tiny
    yes = SelfEvalReward(policy=model, tokenizer=tok, normalize_yes_no=True,
                         yes_words=("yes",), no_words=("no",))
    no = SelfEvalReward(policy=model, tokenizer=tok, normalize_yes_no=True,
                        yes_words=("no",), no_words=("yes",))
    samples = _samples()
    for a, b in zip(yes.score(samples), no.score(samples)):
        assert a + b == pytest.approx(1.0, abs=1e-6)


def test_judging_leaves_the_policy_in_training_mode(tiny):
    model, tok = tiny
    model.train()
    SelfEvalReward(policy=model, tokenizer=tok).score(_samples()[:1])
    assert model.training


def test_quality_mode_parses_a_score_and_normalises_it(tiny):
    model, tok = tiny
    judge = SelfEvalReward(policy=model, tokenizer=tok, mode="quality", max_new_tokens=3)
    scores = judge.score(_samples())
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert parse_score(" 7/10", 10) == 0.7
    assert parse_score("15", 10) == 1.0
    assert parse_score("great", 10) is None


def test_self_eval_explains_missing_model_and_bad_words(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="needs a judge model"):
        SelfEvalReward()
    with pytest.raises(ValueError, match="share a first token"):
        SelfEvalReward(policy=model, tokenizer=tok, yes_words=("yes",), no_words=("yeah",))
    with pytest.raises(ValueError, match="must contain"):
        SelfEvalReward(policy=model, tokenizer=tok, template="Is it right?")
    assert first_token_ids(tok, [" yes", "yes", "yeah", "Yes"]) == tok.convert_tokens_to_ids(
        ["y", "Y"])  # " yes" starts with a blank token under the char tokenizer: skipped
    with pytest.raises(ValueError, match="non-blank"):
        first_token_ids(tok, [" yes"])


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    tok = build_char_tokenizer()
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                      num_labels=2, pad_token_id=tok.pad_token_id,
                      id2label={0: "bad", 1: "good"}, label2id={"bad": 0, "good": 1})
    torch.manual_seed(0)
    model = Qwen2ForSequenceClassification(cfg)
    path = tmp_path_factory.mktemp("rm")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path), model, tok


def test_reward_model_gives_the_probability_of_the_chosen_label(tiny_classifier):
    path, model, tok = tiny_classifier
    rm = RewardModelReward(model=path, label="good", batch_size=2)
    samples = _samples()
    got = rm.score(samples)
    for s, g in zip(samples, got):
        ids = torch.tensor([tok(s.prompt_text + s.response_text)["input_ids"]])
        with torch.no_grad():
            want = torch.softmax(model(input_ids=ids).logits[0], dim=-1)[1]
        assert g == pytest.approx(float(want), abs=1e-5)
    assert RewardModelReward(model=path, label=0).score(samples[:1])[0] == pytest.approx(
        1 - got[0], abs=1e-5)


def test_reward_model_explains_bad_labels_and_paths(tiny_classifier, tmp_path):
    path, _, _ = tiny_classifier
    with pytest.raises(ValueError, match="not in the model's labels"):
        RewardModelReward(model=path, label="great")
    with pytest.raises(ValueError, match="could not load"):
        RewardModelReward(model=str(tmp_path / "missing"))
