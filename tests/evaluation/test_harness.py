"""The evaluation harness with a fake engine: metrics, breakdowns, JSON and table."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from focusrl.evaluation import evaluate
from focusrl.types import GenerationRequest, Prompt, Sample, SamplingParams


class ScriptEngine:
    """Fake engine: prompt id -> the responses it gives, in order."""

    def __init__(self, script: dict[str, list[str]]):
        self.script = script
        self.params: list[SamplingParams] = []

    def generate(self, requests: Sequence[GenerationRequest], params: SamplingParams):
        self.params.append(params)
        return [Sample(prompt_id=r.prompt.id, group_id=r.group_id, prompt_ids=[],
                       response_ids=[], logprobs=[], response_text=self.script[r.prompt.id][j],
                       answer=r.prompt.answer)
                for r in requests for j in range(r.num_samples)]


class Exact:
    def score(self, samples: Sequence[Sample]) -> list[float]:
        return [float(s.response_text.strip() == s.answer) for s in samples]


PROMPTS = [
    Prompt(id="a", text="1+1=", answer="2", meta={"subject": "add", "level": 1}),
    Prompt(id="b", text="2+3=", answer="5", meta={"subject": "add", "level": 2}),
    Prompt(id="c", text="2*3=", answer="6", meta={"subject": "mul", "level": 2}),
]
SCRIPT = {
    "a": ["2", "2", "3", "2"],  # 3 correct
    "b": ["4", "5", "4", "4"],  # 1 correct, majority "4" wrong
    "c": ["1", "7", "8", "9"],  # none
}


def test_metrics_overall_and_by_key_are_hand_computed():
    engine = ScriptEngine(SCRIPT)
    res = evaluate(engine, PROMPTS, Exact(), n_samples=4, ks=[1, 2], temperature=0.7,
                   max_new_tokens=8, breakdown_keys=["subject", "level", "absent"],
                   batch_prompts=2)
    # pass@1 = c/n: 3/4, 1/4, 0; pass@2: 1 - C(1,2)/6 = 1, 1 - C(3,2)/6 = 0.5, 0
    assert res.metrics["pass@1"] == pytest.approx((0.75 + 0.25 + 0) / 3)
    assert res.metrics["pass@2"] == pytest.approx((1 + 0.5 + 0) / 3)
    # avg@1 = first sample: 1, 0, 0; avg@2: 1, 0.5, 0
    assert res.metrics["avg@1"] == pytest.approx(1 / 3)
    assert res.metrics["avg@2"] == pytest.approx(0.5)
    # maj@2: a "2" (right), b tie "4"/"5" -> "4" first (wrong), c wrong
    assert res.metrics["maj@2"] == pytest.approx(1 / 3)
    assert res.breakdowns["subject"]["add"]["pass@1"] == pytest.approx(0.5)
    assert res.breakdowns["subject"]["mul"]["count"] == 1
    assert list(res.breakdowns["level"]) == ["1", "2"] and "absent" not in res.breakdowns
    assert [p.num_correct for p in res.prompts] == [3, 1, 0]
    assert len(engine.params) == 2 and engine.params[0].n == 4
    assert not engine.params[0].greedy and engine.params[0].temperature == 0.7


def test_result_serialises_to_json_and_a_readable_table():
    res = evaluate(ScriptEngine(SCRIPT), PROMPTS, Exact(), n_samples=4, ks=[1],
                   breakdown_keys=["subject"])
    back = json.loads(res.to_json())
    assert back["metrics"]["pass@1"] == pytest.approx(1 / 3)
    assert back["prompts"][0]["prompt_id"] == "a"
    table = res.format_table().splitlines()
    assert table[0].startswith("3 prompts x 4 samples")
    assert table[1].split() == ["n", "pass@1", "avg@1", "maj@1", "mean_reward"]
    assert table[2].split()[:3] == ["overall", "3", "0.3333"]
    assert table[3].split()[0] == "subject=add"


def test_temperature_zero_is_greedy_and_bad_k_is_refused():
    engine = ScriptEngine(SCRIPT)
    evaluate(engine, PROMPTS[:1], Exact(), n_samples=1, temperature=0.0)
    assert engine.params[0].greedy
    with pytest.raises(ValueError, match="1..n_samples=2"):
        evaluate(engine, PROMPTS, Exact(), n_samples=2, ks=[4])
