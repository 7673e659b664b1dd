"""The reward pipeline: weighted sums, G-RA gating, failure isolation and time limits."""

from __future__ import annotations

import threading
import time

import pytest

from focusrl.configtools import ConfigError
from focusrl.rewards.base import RewardPipeline, combine_gated, combine_weighted
from focusrl.rewards.config import RewardConfig, RewardPartConfig
from focusrl.rewards.registry import build_rewards
from focusrl.types import Sample


def _samples(texts, answers=None, group=0):
    answers = answers or [None] * len(texts)
    return [Sample(f"p{i}", group, [], [], [], response_text=t, answer=a)
            for i, (t, a) in enumerate(zip(texts, answers))]


class Const:
    def __init__(self, value):
        self.value = value

    def score(self, samples):
        return [self.value] * len(samples)


class RaisesOn:
    """Raises when a batch contains a response equal to `bad`."""

    def __init__(self, bad):
        self.bad = bad

    def score(self, samples):
        if any(s.response_text == self.bad for s in samples):
            raise RuntimeError("rewarder bug")
        return [1.0] * len(samples)


class Hangs:
    def __init__(self):
        self.release = threading.Event()

    def score(self, samples):
        self.release.wait(30)
        return [1.0] * len(samples)


def _parts(*specs):
    return [RewardPartConfig(kind="x", name=n, weight=w, priority=p, threshold=t)
            for n, w, p, t in specs]


def test_weighted_sum_by_hand():
    parts = _parts(("a", 1.0, 0, 0.5), ("b", 0.5, 0, 0.5), ("c", -2.0, 0, 0.5))
    assert combine_weighted(parts, {"a": 1.0, "b": 0.4, "c": 0.25}) == pytest.approx(0.7)


@pytest.mark.parametrize(("values", "expected"), [
    # outcome passes its gate: format counts, and tool (gated by format) counts too
    ({"outcome": 1.0, "format": 1.0, "tool": 0.5}, 1.0 + 0.5 * 1.0 + 0.2 * 0.5),
    # outcome fails its gate (0 < 1): nothing below it counts
    ({"outcome": 0.0, "format": 1.0, "tool": 1.0}, 0.0),
    # outcome passes, format misses 0.5: format counts, tool does not
    ({"outcome": 1.0, "format": 0.25, "tool": 1.0}, 1.0 + 0.5 * 0.25),
])
def test_gated_accumulation_by_hand(values, expected):
    parts = _parts(("outcome", 1.0, 0, 1.0), ("format", 0.5, 1, 0.5), ("tool", 0.2, 2, 0.0))
    assert combine_gated(parts, values) == pytest.approx(expected)


def test_gated_parts_of_equal_priority_gate_together():
    parts = _parts(("a", 1.0, 0, 1.0), ("b", 1.0, 0, 1.0), ("c", 10.0, 1, 0.0))
    assert combine_gated(parts, {"a": 1.0, "b": 0.0, "c": 1.0}) == 1.0
    assert combine_gated(parts, {"a": 1.0, "b": 1.0, "c": 1.0}) == 12.0


def test_each_part_is_logged_separately_and_combined():
    cfg = RewardConfig(parts=_parts(("a", 1.0, 0, 0.5), ("b", 2.0, 0, 0.5)))
    pipe = RewardPipeline(cfg, {"a": Const(1.0), "b": Const(0.25)})
    samples = _samples(["x", "y"])
    assert pipe.score(samples).failures == []
    assert samples[0].reward_parts == {"a": 1.0, "b": 0.25}
    assert samples[0].reward == pytest.approx(1.5)


def test_raising_rewarder_gives_fallback_only_to_the_culprit_and_counts_it():
    cfg = RewardConfig(parts=_parts(("ok", 1.0, 0, 0.5), ("buggy", 1.0, 0, 0.5)),
                       fallback_reward=-1.0)
    pipe = RewardPipeline(cfg, {"ok": Const(1.0), "buggy": RaisesOn("bad")})
    samples = _samples(["good", "bad", "good"])
    stats = pipe.score(samples)
    assert [s.reward_parts["buggy"] for s in samples] == [1.0, -1.0, 1.0]
    assert [(f.part, f.prompt_id, f.index, f.kind) for f in stats.failures] == [
        ("buggy", "p1", 1, "error")]
    assert "rewarder bug" in stats.failures[0].error
    assert stats.counts() == {"reward_failures/buggy": 1}
    assert pipe.failure_totals["buggy"] == 1


def test_non_finite_reward_becomes_the_fallback():
    cfg = RewardConfig(parts=_parts(("nan", 1.0, 0, 0.5)), fallback_reward=0.0)
    stats = RewardPipeline(cfg, {"nan": Const(float("nan"))}).score(_samples(["a"]))
    assert [f.kind for f in stats.failures] == ["non_finite"]


def test_hanging_rewarder_times_out_to_fallback_and_the_run_goes_on():
    part = RewardPartConfig(kind="x", name="slow", timeout_s=0.3)
    cfg = RewardConfig(parts=[part, *_parts(("fast", 1.0, 0, 0.5))], fallback_reward=-0.5)
    hang = Hangs()
    pipe = RewardPipeline(cfg, {"slow": hang, "fast": Const(1.0)})
    samples = _samples(["a", "b"])
    start = time.monotonic()
    stats = pipe.score(samples)
    hang.release.set()
    assert time.monotonic() - start < 5.0
    assert [s.reward_parts for s in samples] == [{"slow": -0.5, "fast": 1.0}] * 2
    assert [f.kind for f in stats.failures] == ["timeout", "timeout"]
    assert [s.reward for s in samples] == [0.5, 0.5]


def test_wrong_number_of_rewards_is_isolated_per_sample():
    class Short:
        def score(self, samples):
            return [1.0] if len(samples) > 1 else [2.0]

    cfg = RewardConfig(parts=_parts(("s", 1.0, 0, 0.5)))
    samples = _samples(["a", "b"])
    assert RewardPipeline(cfg, {"s": Short()}).score(samples).failures == []
    assert [s.reward for s in samples] == [2.0, 2.0]


def test_registry_builds_parts_and_explains_bad_kinds_and_args():
    cfg = RewardConfig(parts=[RewardPartConfig(kind="numeric"),
                              RewardPartConfig(kind="multiple_choice", args={"letters": "ABC"})])
    pipe = build_rewards(cfg)
    samples = _samples(["#### 4", "The answer is (B)."], ["4", "B"])
    pipe.score(samples)
    assert [s.reward_parts for s in samples] == [{"numeric": 1.0, "multiple_choice": 0.0},
                                                 {"numeric": 0.0, "multiple_choice": 1.0}]
    with pytest.raises(ConfigError, match="Did you mean 'math_verify'"):
        build_rewards(RewardConfig(parts=[RewardPartConfig(kind="math_verfy")]))
    with pytest.raises(ConfigError, match="Did you mean 'letters'"):
        build_rewards(RewardConfig(parts=[RewardPartConfig(kind="multiple_choice",
                                                           args={"leters": "AB"})]))
    with pytest.raises(ConfigError, match="distinct upper-case"):
        build_rewards(RewardConfig(parts=[RewardPartConfig(kind="multiple_choice",
                                                           args={"letters": "abc"})]))


def test_config_rejects_negative_timeouts():
    with pytest.raises(ConfigError, match="timeout_s"):
        RewardConfig(parts=[RewardPartConfig(timeout_s=-1)]).validate()


def test_every_registered_kind_resolves_to_a_rewarder_class():
    from focusrl.rewards.registry import factory_of, known_kinds

    for kind in known_kinds():
        assert callable(getattr(factory_of(kind), "score", None)), kind


class Returns:
    """Returns the given values, one per sample, in order."""

    def __init__(self, values):
        self.values = values

    def score(self, samples):
        return list(self.values[: len(samples)])


def test_values_that_are_not_finite_reals_in_range_fail_with_their_sample_ids():
    values = ["1.0", float("nan"), float("inf"), 1e308, True, None, 0.5, 2000.0, -3]
    cfg = RewardConfig(parts=_parts(("p", 1.0, 0, 0.5)), fallback_reward=-0.25)
    pipe = RewardPipeline(cfg, {"p": Returns(values)})
    samples = _samples([str(i) for i in range(len(values))])
    stats = pipe.score(samples)
    assert [s.reward_parts["p"] for s in samples] == [-0.25] * 6 + [0.5, -0.25, -3.0]
    assert [(f.index, f.prompt_id, f.kind) for f in stats.failures] == [
        (0, "p0", "bad_value"), (1, "p1", "non_finite"), (2, "p2", "non_finite"),
        (3, "p3", "out_of_range"), (4, "p4", "bad_value"), (5, "p5", "bad_value"),
        (7, "p7", "out_of_range")]
    assert stats.counts() == {"reward_failures/p": 7}


def test_a_part_range_overrides_the_default_and_bad_ranges_are_refused():
    part = RewardPartConfig(kind="x", name="unit", range=[0.0, 1.0])
    cfg = RewardConfig(parts=[part])
    samples = _samples(["a", "b", "c"])
    stats = RewardPipeline(cfg, {"unit": Returns([0.0, 1.0, 1.5])}).score(samples)
    assert [f.index for f in stats.failures] == [2]
    assert "outside the part's range [0, 1]" in stats.failures[0].error
    for bad in ([1.0, 0.0], [0.0], [0.0, float("inf")], ["0", 1]):
        with pytest.raises(ConfigError, match=r"\[min, max\]"):
            RewardConfig(part_range=bad).validate()
        with pytest.raises(ConfigError, match="'x'.range"):
            RewardConfig(parts=[RewardPartConfig(kind="x", range=bad)]).validate()


def test_a_sample_failure_value_counts_only_that_sample():
    from focusrl.rewards.base import SampleFailure

    cfg = RewardConfig(parts=_parts(("m", 1.0, 0, 0.5)))
    values = [1.0, SampleFailure("timeout", "answer check exceeded 5 s"), 0.0]
    samples = _samples(["a", "b", "c"])
    stats = RewardPipeline(cfg, {"m": Returns(values)}).score(samples)
    assert [s.reward for s in samples] == [1.0, 0.0, 0.0]
    assert [(f.index, f.kind) for f in stats.failures] == [(1, "timeout")]


class Spins:
    """Spins in Python (holding the GIL in turns) until told to stop."""

    def __init__(self):
        self.stop = threading.Event()

    def score(self, samples):
        while not self.stop.is_set():
            pass
        return [1.0] * len(samples)


def test_a_spinning_part_keeps_step_time_bounded_over_20_steps():
    """About 1 s: the first step waits out the 0.3 s limit, the next 19 fail at once
    (`busy`) instead of each starting another spinning thread."""
    spin = Spins()
    part = RewardPartConfig(kind="x", name="spin", timeout_s=0.3)
    pipe = RewardPipeline(RewardConfig(parts=[part, *_parts(("ok", 1.0, 0, 0.5))]),
                          {"spin": spin, "ok": Const(1.0)})
    times, kinds = [], []
    try:
        for _ in range(20):
            samples = _samples(["a", "b"])
            start = time.monotonic()
            stats = pipe.score(samples)
            times.append(time.monotonic() - start)
            kinds.append({f.kind for f in stats.failures})
            assert [s.reward for s in samples] == [1.0, 1.0]  # fallback 0 + ok 1
            assert sum(t.name == "reward-part" for t in threading.enumerate()) <= 1
    finally:
        spin.stop.set()
    assert kinds == [{"timeout"}] + [{"busy"}] * 19
    assert times[0] < 3.0 and max(times[1:]) < 0.5, times
    assert pipe.failure_totals["spin"] == 40
    for t in threading.enumerate():
        if t.name == "reward-part":
            t.join(5)
    samples = _samples(["a"])
    assert pipe.score(samples).failures == []  # once it ends, the part is called again
