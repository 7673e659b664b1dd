"""Asynchronous rollout without Ray: the staleness bound, dropping, the decoupled-PPO
guard, and the bad-input errors of `resources` / `rollout.max_staleness`."""

from __future__ import annotations

import sys
import threading

import pytest

from focusrl.algorithms.config import AlgorithmConfig
from focusrl.config import load_config
from focusrl.configtools import ConfigError
from focusrl.distributed.asynchronous import AsyncRollout, check_behaviour_correction
from focusrl.distributed.config import ResourcesConfig
from focusrl.types import Sample


def _sample(group: int, version: int) -> Sample:
    return Sample("p", group, [1], [2], [-0.5], policy_version=version)


def test_stale_samples_without_behaviour_correction_are_refused():
    samples = [_sample(0, 3), _sample(1, 4)]
    with pytest.raises(RuntimeError, match="tis_cap"):
        check_behaviour_correction(samples, 4, AlgorithmConfig(tis_cap=0.0))
    check_behaviour_correction(samples, 4, AlgorithmConfig(tis_cap=2.0))  # corrected: fine
    check_behaviour_correction([_sample(0, 4)], 4, AlgorithmConfig())  # on-policy: fine


def test_producer_never_runs_ahead_of_the_bound_and_stale_groups_are_dropped():
    k = 1
    versions_at_start: dict[int, int] = {}
    published = [0]
    lock = threading.Lock()

    def rollout_fn(step):
        with lock:
            versions_at_start[step] = published[0]
        # group 0 tagged with the version the producer saw; group 1 far too old
        return [_sample(0, published[0]), _sample(0, published[0]), _sample(1, -5)], {}

    src = AsyncRollout(rollout_fn, 0, k, AlgorithmConfig(tis_cap=2.0))
    try:
        for step in range(1, 7):
            samples, tally = src.take(step)
            assert {s.group_id for s in samples} == {0}  # the stale group went whole
            assert tally["stale_dropped"] == 1.0
            assert all(step - 1 - s.policy_version <= k for s in samples)
            with lock:
                published[0] = step
            src.published(step)
    finally:
        src.close()
    # batch s may start only once version s - 1 - k is out, never earlier
    assert all(v >= s - 1 - k for s, v in versions_at_start.items())
    assert max(versions_at_start) <= 6 + k + 1  # and it never ran further ahead


def test_producer_errors_reach_the_trainer():
    def broken(step):
        raise ValueError("engine exploded")

    src = AsyncRollout(broken, 0, 1, AlgorithmConfig(tis_cap=2.0))
    with pytest.raises(RuntimeError, match="asynchronous rollout failed"):
        src.take(1)
    src.close()


@pytest.mark.parametrize("overrides, match", [
    (["rollout.max_staleness=1", "algorithm.tis_cap=2"], "resources.rollout_workers >= 1"),
    (["rollout.max_staleness=1", "resources.rollout_workers=2"], "algorithm.tis_cap"),
    (["rollout.max_staleness=-1"], "max_staleness must be >= 0"),
    (["rollout.max_staleness=1", "resources.rollout_workers=2", "algorithm.tis_cap=2",
      "curriculum.kind=edco"], "curriculum.kind=edco"),
    (["resources.rollout_workers=-1"], "rollout_workers must be >= 0"),
])
def test_bad_async_settings_are_config_errors(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, overrides)


def test_missing_ray_names_the_extra(monkeypatch):
    from focusrl.distributed.ray_setup import require_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'focusrl\[ray\]'"):
        require_ray()


def test_unsatisfiable_resources_name_what_is_missing():
    from focusrl.distributed.ray_setup import check_resources

    class FakeCluster:  # stands for ray.cluster_resources() of a 2-CPU machine
        @staticmethod
        def cluster_resources():
            return {"CPU": 2.0}

    res = ResourcesConfig(rollout_workers=3, rollout_worker_gpus=0.5)
    with pytest.raises(ConfigError) as e:
        check_resources(FakeCluster, res)
    assert "CPU: 3 wanted" in str(e.value) and "2 in the cluster" in str(e.value)
    assert "GPU: 1.5 wanted" in str(e.value)


def test_one_process_runs_never_import_ray():
    import subprocess

    code = ("import sys, focusrl.cli, focusrl.trainer.rl, focusrl.trainer.components; "
            "assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def _reader(slots, least, entered, release, seen):
    with slots.reading(least) as slot:
        seen.append(slot.load)
        entered.set()
        release.wait(5)


def test_one_copy_loads_after_running_generations_and_holds_new_ones_back():
    from focusrl.distributed.weight_slots import Slot, WeightSlots

    slots = WeightSlots([Slot(model="m", engine="e")])
    entered, release, seen = threading.Event(), threading.Event(), []
    r = threading.Thread(target=_reader, args=(slots, 0, entered, release, seen))
    r.start()
    entered.wait(5)
    loaded = []

    def load():
        with slots.writing(1) as slot:
            loaded.append(slot)
    w = threading.Thread(target=load)
    w.start()
    w.join(0.2)
    assert w.is_alive() and not loaded  # waits for the running generation
    release.set()
    r.join(5)
    w.join(5)
    with slots.reading(1) as slot:  # the next generation sees load 1
        assert slot.load == 1 and slot is loaded[0]
    assert seen == [0]


def test_two_copies_load_beside_a_running_generation_and_skip_late_loads():
    from focusrl.distributed.weight_slots import Slot, WeightSlots

    slots = WeightSlots([Slot(model="a", engine="a"), Slot(model="b", engine="b")])
    entered, release, seen = threading.Event(), threading.Event(), []
    r = threading.Thread(target=_reader, args=(slots, 0, entered, release, seen))
    r.start()
    entered.wait(5)
    with slots.writing(1) as slot:  # at once: the idle copy, the running one untouched
        assert slot is not None and slot.readers == 0
    with slots.reading(1) as slot:  # a new generation starts on load 1 meanwhile
        assert slot.load == 1 and slot.model == "b"
        waiting = []

        def load2():
            with slots.writing(2) as s:
                waiting.append(s)
        w = threading.Thread(target=load2)
        w.start()
        w.join(0.2)  # copy a is read by the old generation, b by this one: load 2 waits
        assert w.is_alive()
        release.set()
        r.join(5)
        w.join(5)
    assert waiting[0].model == "a" and slots.newest_load == 2
    with slots.writing(1) as slot:  # arrived after load 2: skipped
        assert slot is None
    assert seen == [0]
