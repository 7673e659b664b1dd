"""The difficulty knob of the generated arithmetic and countdown tasks."""

from __future__ import annotations

import random

from focusrl.data.config import ArithmeticConfig, CountdownConfig, DataConfig
from focusrl.data.sources import load_task_data
from focusrl.data.tasks import arithmetic_instances, countdown_instances


def _take(it, n):
    return [p for _, p in zip(range(n), it)]


def test_arithmetic_difficulty_fixes_digits_per_operand():
    prompts = _take(arithmetic_instances(ArithmeticConfig(difficulty=3), random.Random(0)), 50)
    for p in prompts:
        a, b = p.text.rstrip("=").split("+")
        assert len(a) == len(b) == 3
        assert p.meta["difficulty"] == 6
        assert int(p.answer) == int(a) + int(b)


def test_arithmetic_mixed_range_gives_an_orderable_pool():
    cfg = DataConfig(source="arithmetic", num_train=200, num_eval=0,
                     arithmetic=ArithmeticConfig(min_digits=1, max_digits=4))
    levels = {p.meta["difficulty"] for p in load_task_data(cfg).train}
    assert levels == set(range(2, 9))


def test_countdown_difficulty_sets_count_and_range():
    prompts = _take(countdown_instances(CountdownConfig(difficulty=3), random.Random(0)), 50)
    for p in prompts:
        assert len(p.answer["numbers"]) == 4 and max(p.answer["numbers"]) <= 29
        assert p.meta["difficulty"] == 4


def test_difficulty_zero_keeps_the_explicit_options():
    cfg = ArithmeticConfig(min_digits=2, max_digits=2)
    p = _take(arithmetic_instances(cfg, random.Random(0)), 1)[0]
    assert p.meta["difficulty"] == 4
