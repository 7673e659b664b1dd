"""EDCO: estimators over an engine, highest-entropy selection, refresh, checkpointing."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from focusrl.configtools import ConfigError
from focusrl.curriculum import build_sampler
from focusrl.curriculum.config import CurriculumConfig
from focusrl.curriculum.edco import (
    EDCOSampler,
    FullAnswerEntropyEstimator,
    PrefixEntropyEstimator,
    select_high_entropy,
    top_entropy_indices,
)
from focusrl.curriculum.knapsack import KnapsackSampler
from focusrl.curriculum.ladder import LadderSampler
from focusrl.types import GenerationRequest, Prompt, Sample, SamplingParams


class TableEngine:
    """Stand-in engine and policy for the estimators' arithmetic: prompt text -> per-sample
    token entropies (truncated to the token limit). `generate` puts each sample's row in
    its meta; `token_entropies` (the policy's role) reads it back."""

    def __init__(self, table: dict[str, list[list[float]]]):
        self.table = table
        self.calls: list[tuple[list[str], SamplingParams]] = []

    def generate(self, requests: Sequence[GenerationRequest], params: SamplingParams):
        self.calls.append(([r.prompt.text for r in requests], params))
        out = []
        for r in requests:
            rows = self.table[r.prompt.text]
            for j in range(r.num_samples):
                ent = rows[j % len(rows)][: params.max_new_tokens]
                out.append(Sample(prompt_id=r.prompt.id, group_id=r.group_id, prompt_ids=[],
                                  response_ids=[0] * len(ent), logprobs=[0.0] * len(ent),
                                  meta={"entropy": list(ent)}))
        return out

    def token_entropies(self, samples: Sequence[Sample]) -> list[list[float]]:
        return [s.meta["entropy"] for s in samples]


def test_prefix_estimator_averages_only_the_first_tokens_with_the_suffix():
    engine = TableEngine({"q? A:": [[1.0, 3.0, 100.0], [2.0, 2.0, 100.0]]})
    est = PrefixEntropyEstimator(engine, engine.token_entropies, prefix_tokens=2,
                                 num_samples=2,
                                 quick_answer_suffix=" A:")
    # sample means (1+3)/2 = 2 and (2+2)/2 = 2 -> 2
    assert est([Prompt(id="q", text="q?")]) == [pytest.approx(2.0)]
    texts, params = engine.calls[0]
    assert texts == ["q? A:"] and params.max_new_tokens == 2


def test_full_estimator_weights_each_sample_equally():
    engine = TableEngine({"q": [[1.0, 1.0, 1.0, 1.0], [4.0]]})
    est = FullAnswerEntropyEstimator(engine, engine.token_entropies, max_new_tokens=64,
                                     num_samples=2)
    assert est([Prompt(id="q", text="q")]) == [pytest.approx((1.0 + 4.0) / 2)]


def test_estimators_count_their_generated_tokens_and_the_sampler_its_seconds():
    engine = TableEngine({"q": [[1.0, 1.0, 1.0, 1.0], [4.0]]})
    est = PrefixEntropyEstimator(engine, engine.token_entropies, prefix_tokens=3, num_samples=2)
    est([Prompt(id="q", text="q")])
    est([Prompt(id="q", text="q")])
    assert est.tokens_generated == 2 * (3 + 1)  # truncated to 3 tokens, and 1 token
    prompts, table = _pool(20)
    sampler = EDCOSampler(prompts, 1, seed=0, estimator=CountingEstimator(table),
                          pool_prompts=5, refresh_steps=1)
    sampler.next_prompts(1)
    sampler.next_prompts(1)
    assert sampler.estimate_seconds_total >= sampler.last_refresh["estimate_seconds"] >= 0.0
    restored = EDCOSampler(prompts, 1, 0, CountingEstimator(table), 5, 1)
    restored.load_state_dict(sampler.state_dict())
    assert restored.estimate_seconds_total == sampler.estimate_seconds_total


def test_top_entropy_keeps_the_highest_share_with_ties_by_position():
    assert top_entropy_indices([0.1, 0.9, 0.5, 0.9], 0.5) == [1, 3]
    assert top_entropy_indices([0.1, 0.9, 0.5], 0.34) == [1, 2]  # ceil(1.02) = 2
    assert top_entropy_indices([0.3], 0.01) == [0]


def _pool(n: int = 10) -> tuple[list[Prompt], dict[str, float]]:
    prompts = [Prompt(id=f"p{i}", text=f"t{i}") for i in range(n)]
    return prompts, {p.text: float(i) for i, p in enumerate(prompts)}  # p9 highest


class CountingEstimator:
    def __init__(self, entropy: dict[str, float]):
        self.entropy = entropy
        self.calls = 0

    def __call__(self, prompts: Sequence[Prompt]) -> list[float]:
        self.calls += 1
        return [self.entropy[p.text] for p in prompts]


def test_selects_the_highest_entropy_prompts_of_the_pool():
    prompts, table = _pool()
    sampler = EDCOSampler(prompts, 4, seed=0, estimator=CountingEstimator(table),
                          pool_prompts=10, refresh_steps=5, selection_ratio=0.3)
    served = sampler.next_prompts(6)
    assert {p.id for p, _ in served} == {"p7", "p8", "p9"}
    assert [n for _, n in served] == [4] * 6
    assert sampler.last_refresh["selected_entropy_mean"] == pytest.approx(8.0)
    assert select_high_entropy(prompts, CountingEstimator(table), 0.2) == [prompts[9],
                                                                           prompts[8]]


def test_refreshes_every_refresh_steps_calls():
    prompts, table = _pool(20)
    est = CountingEstimator(table)
    sampler = EDCOSampler(prompts, 1, seed=0, estimator=est, pool_prompts=5, refresh_steps=3)
    for step in range(7):
        sampler.next_prompts(2)
        assert est.calls == step // 3 + 1  # refreshes at calls 0, 3, 6


def test_entropy_changes_show_up_at_the_next_refresh():
    prompts, table = _pool(4)
    sampler = EDCOSampler(prompts, 1, seed=0, estimator=CountingEstimator(table),
                          pool_prompts=4, refresh_steps=2, selection_ratio=0.25)
    assert sampler.next_prompts(1)[0][0].id == "p3"
    table["t0"] = 99.0  # the model changed
    assert sampler.next_prompts(1)[0][0].id == "p3"  # no refresh yet
    assert sampler.next_prompts(1)[0][0].id == "p0"


def test_is_deterministic_and_round_trips_its_state():
    prompts, table = _pool(30)

    def make() -> EDCOSampler:
        return EDCOSampler(prompts, 2, seed=7, estimator=CountingEstimator(table),
                           pool_prompts=8, refresh_steps=2, selection_ratio=0.5)

    a, b = make(), make()
    ids = lambda s: [p.id for p, _ in s.next_prompts(3)]  # noqa: E731
    assert [ids(a) for _ in range(3)] == [ids(b) for _ in range(3)]
    c = make()
    c.load_state_dict(a.state_dict())
    assert c.state_dict() == a.state_dict()
    assert [ids(a) for _ in range(4)] == [ids(c) for _ in range(4)]


def test_factory_builds_each_kind_and_edco_needs_an_engine():
    prompts = [Prompt(id=f"p{i}", text=f"t{i}", meta={"difficulty": i % 2}) for i in range(6)]
    assert isinstance(build_sampler(CurriculumConfig(kind="knapsack"), prompts, 4, 0),
                      KnapsackSampler)
    assert isinstance(build_sampler(CurriculumConfig(kind="ladder"), prompts, 4, 0),
                      LadderSampler)
    with pytest.raises(ConfigError, match="needs the rollout engine and the policy"):
        build_sampler(CurriculumConfig(kind="edco"), prompts, 4, 0)
    engine = TableEngine({p.text: [[float(i)] * 8] for i, p in enumerate(prompts)})
    cfg = CurriculumConfig(kind="edco", edco_pool_prompts=6, edco_selection_ratio=0.5)
    sampler = build_sampler(cfg, prompts, 4, 0, engine=engine, policy=engine)
    assert {p.id for p, _ in sampler.next_prompts(3)} == {"p3", "p4", "p5"}
    assert engine.calls[0][1].max_new_tokens == cfg.edco_prefix_tokens
