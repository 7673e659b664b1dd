"""Static curricula: easy-to-hard and perplexity orders, the answer-perplexity scorer."""

from __future__ import annotations

import math

import pytest
import torch

from focusrl.configtools import ConfigError
from focusrl.curriculum import build_sampler
from focusrl.curriculum.config import CurriculumConfig
from focusrl.curriculum.static import AnswerPerplexity, EasyToHardSampler, PerplexitySampler
from focusrl.models import build_char_tokenizer, build_tiny_model
from focusrl.types import Prompt


def _mixed() -> list[Prompt]:
    return [Prompt(id=f"d{d}-{i}", text=f"{d}{i}+1=", answer=str(10 * d + i + 1),
                   meta={"difficulty": d}) for d in (4, 2, 3) for i in range(3)]


def _ids(picks) -> list[str]:
    return [p.id for p, _ in picks]


def test_easy_to_hard_serves_ascending_difficulty_then_cycles():
    s = EasyToHardSampler(_mixed(), samples_per_prompt=4, seed=0)
    first = s.next_prompts(9)
    assert [p.meta["difficulty"] for p, _ in first] == [2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert {n for _, n in first} == {4}
    assert _ids(s.next_prompts(9)) == _ids(first)  # the next pass starts easy again


def test_easy_to_hard_ties_follow_a_seeded_shuffle():
    orders = {tuple(_ids(EasyToHardSampler(_mixed(), 1, seed).next_prompts(9)))
              for seed in range(6)}
    assert len(orders) > 1
    assert _ids(EasyToHardSampler(_mixed(), 1, 3).next_prompts(9)) == _ids(
        EasyToHardSampler(_mixed(), 1, 3).next_prompts(9))


def test_easy_to_hard_names_a_prompt_without_difficulty():
    s = EasyToHardSampler([Prompt(id="bare", text="x")], 1, 0)
    with pytest.raises(ValueError, match="'bare'"):
        s.next_prompts(1)


class CountingScorer:
    def __init__(self, table: dict[str, float]):
        self.table, self.calls = table, 0

    def __call__(self, prompts):
        self.calls += 1
        return [self.table[p.id] for p in prompts]


def test_perplexity_order_is_ascending_computed_once_at_the_first_draw():
    prompts = _mixed()
    table = {p.id: float(k) for k, p in zip([5, 1, 9, 3, 7, 2, 8, 6, 4], prompts)}
    scorer = CountingScorer(table)
    s = PerplexitySampler(prompts, 2, seed=0, scorer=scorer)
    assert scorer.calls == 0  # not at construction: the engine may load weights first
    picks = s.next_prompts(12)
    assert [table[i] for i in _ids(picks)] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3]
    assert scorer.calls == 1 and s.order_seconds >= 0.0


def test_perplexity_state_dict_restores_the_frozen_order_without_rescoring():
    prompts = _mixed()
    a = PerplexitySampler(prompts, 1, 0, CountingScorer({p.id: i for i, p in
                                                         enumerate(reversed(prompts))}))
    a.next_prompts(4)
    other = CountingScorer({p.id: 0.0 for p in prompts})  # a different model now
    b = PerplexitySampler(prompts, 1, 0, other)
    b.load_state_dict(a.state_dict())
    assert _ids(b.next_prompts(7)) == _ids(a.next_prompts(7)) and other.calls == 0


def _loop_perplexity(model, tok, p: Prompt) -> float:
    """Reference: one unpadded sequence, NLL of answer + EOS token by token."""
    a = tok(p.text, add_special_tokens=False).input_ids
    b = tok(p.answer, add_special_tokens=False).input_ids + [tok.eos_token_id]
    ids = torch.tensor([a + b])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    nll = [-float(logp[len(a) + j - 1, t]) for j, t in enumerate(b)]
    return math.exp(sum(nll) / len(nll))


def test_answer_perplexity_matches_a_plain_loop_with_padding():
    torch.manual_seed(0)
    tok = build_char_tokenizer()
    model = build_tiny_model(tok, 32, 2, 2, 64, 64, seed=0)
    model.train()
    prompts = [Prompt(id="a", text="7+8=", answer="15"),
               Prompt(id="b", text="123+456=", answer="579"),
               Prompt(id="c", text="1+1=", answer="2")]
    scorer = AnswerPerplexity(model, tok, "cpu", batch_prompts=2)
    got = scorer(prompts)
    assert got == pytest.approx([_loop_perplexity(model, tok, p) for p in prompts], rel=1e-4)
    assert scorer.tokens_scored == 3 + 4 + 2  # answer tokens + EOS each
    assert model.training  # restored


def test_answer_perplexity_needs_a_text_answer():
    tok = build_char_tokenizer()
    model = build_tiny_model(tok, 32, 2, 2, 64, 64, seed=0)
    with pytest.raises(ValueError, match="'cd'.*non-text answer"):
        AnswerPerplexity(model, tok, "cpu")([Prompt(id="cd", text="x", answer={"t": 1})])


def test_factory_builds_both_static_kinds():
    e2h = build_sampler(CurriculumConfig(kind="easy_to_hard"), _mixed(), 2, 0)
    assert isinstance(e2h, EasyToHardSampler)
    with pytest.raises(ConfigError, match="perplexity"):
        build_sampler(CurriculumConfig(kind="perplexity"), _mixed(), 2, 0)
    s = build_sampler(CurriculumConfig(kind="perplexity"), _mixed(), 2, 0,
                      scorer=CountingScorer({p.id: 1.0 for p in _mixed()}))
    assert isinstance(s, PerplexitySampler)
