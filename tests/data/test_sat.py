"""SAT tasks: satisfiable by construction, SATURN's difficulty, the boxed verifier."""

from __future__ import annotations

import math
import random

import pytest

from focusrl.configtools import ConfigError, from_dict
from focusrl.data.config import DataConfig, SATConfig
from focusrl.data.sat import (
    SATReward,
    formula_satisfied,
    make_instance,
    parse_assignment,
    sat_difficulty,
    sat_instances,
)
from focusrl.data.sources import load_task_data
from focusrl.types import Sample


def _sample(text: str, clauses: list[list[int]], k: int) -> Sample:
    return Sample(prompt_id="p", group_id=0, prompt_ids=[], response_ids=[], logprobs=[],
                  response_text=text, answer={"clauses": clauses, "num_vars": k})


@pytest.mark.parametrize("n,k,l", [(1, 1, 1), (2, 4, 4), (3, 5, 5), (3, 5, 6), (4, 10, 20)])
def test_every_instance_is_satisfied_by_its_hidden_assignment(n, k, l):  # noqa: E741
    rng = random.Random(0)
    for _ in range(50):
        inst = make_instance(n, k, l, rng)
        assert len(inst.clauses) == l
        assert all(len(c) == n and len({abs(x) for x in c}) == n for c in inst.clauses)
        assert all(1 <= abs(x) <= k for c in inst.clauses for x in c)
        assert formula_satisfied(inst.clauses, inst.hidden_assignment)


def test_difficulty_matches_hand_computed_values():
    # D = log2 k + 2 log2 l - n + k/n
    assert sat_difficulty(2, 4, 4) == pytest.approx(2 + 4 - 2 + 2)  # 6
    assert sat_difficulty(1, 2, 1) == pytest.approx(1 + 0 - 1 + 2)  # 2
    assert sat_difficulty(3, 8, 4) == pytest.approx(3 + 4 - 3 + 8 / 3)
    # SATURN's step (3,5,5) -> (3,5,6) is harder by 2 log2(6/5)
    assert sat_difficulty(3, 5, 6) - sat_difficulty(3, 5, 5) == pytest.approx(
        2 * math.log2(6 / 5))


def test_verifier_accepts_satisfying_and_rejects_failing_boxed_assignments():
    clauses = [[1, -2], [2, 3], [-1, -3]]  # x1 | ~x2, x2 | x3, ~x1 | ~x3
    reward = SATReward()
    texts = [
        "so \\boxed{110}",          # x1=1 x2=1 x3=0: all true
        "\\boxed{0 0 1}",           # 0,0,1: (1|~0)=T, (0|1)=T, (~0|~1)=T
        "\\boxed{[1, 0, 1]}",       # x1=1 x3=1 breaks ~x1|~x3
        "\\boxed{010}",             # x1=0,x2=1 breaks x1|~x2
        "the answer is 110",        # no box: invalid
        "\\boxed{11}",              # wrong length: invalid
        "\\boxed{1a0}",             # not bits: invalid
    ]
    got = reward.score([_sample(t, clauses, 3) for t in texts])
    assert got == [1.0, 1.0, 0.0, 0.0, -1.0, -1.0, -1.0]
    assert SATReward(invalid_reward=-0.5).score([_sample("none", clauses, 3)]) == [-0.5]


def test_verifier_accepts_its_own_hidden_assignment_for_generated_prompts():
    prompts = [p for _, p in zip(range(20), sat_instances(SATConfig(), random.Random(3)))]
    samples = [_sample("\\boxed{" + "".join(map(str, p.meta["hidden_assignment"])) + "}",
                       p.answer["clauses"], p.answer["num_vars"]) for p in prompts]
    assert SATReward().score(samples) == [1.0] * 20


def test_assignment_parser_ignores_separators_only():
    assert parse_assignment("1, 0, 1", 3) == [1, 0, 1]
    assert parse_assignment("1 0", 3) is None
    assert parse_assignment(None, 3) is None


def test_sat_source_mixes_rungs_round_robin_and_is_seeded():
    cfg = DataConfig(source="sat", num_train=6, num_eval=2,
                     sat=SATConfig(params=[[2, 4, 4], [3, 5, 5]]))
    a, b = load_task_data(cfg), load_task_data(cfg)
    assert [p.id for p in a.train] == [p.id for p in b.train]
    assert {p.meta["difficulty"] for p in a.train} == {sat_difficulty(2, 4, 4),
                                                        sat_difficulty(3, 5, 5)}
    assert not {p.id for p in a.train} & {p.id for p in a.eval}


def test_bad_sat_params_are_config_errors():
    with pytest.raises(ConfigError, match="n <= k"):
        from_dict(DataConfig, {"sat": {"params": [[6, 5, 5]]}})
