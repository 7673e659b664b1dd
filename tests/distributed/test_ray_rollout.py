"""Ray rollout workers on a local 2-CPU cluster (loopback only): asynchronous training
with max_staleness=1 learns and never trains on a sample staler than the bound; a worker
killed with kill -9 is restarted and its requests re-issued; asynchronous resume.

One pool of two workers serves the whole module (starting a worker costs ~10-25 s here).
About 60-90 s in all on this machine.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from focusrl.config import load_config
from focusrl.configtools import ConfigError
from focusrl.distributed.config import ResourcesConfig
from focusrl.distributed.ray_setup import check_resources
from focusrl.trainer.components import build_components
from focusrl.trainer.rl import train
from focusrl.types import GenerationRequest, SamplingParams

pytestmark = pytest.mark.usefixtures("require_ray")

LOOPBACK = ("127.0.0.1:", "[::ffff:127.0.0.1]:", "[::1]:")
ASYNC = [
    "model.tiny.hidden_size=32", "model.tiny.num_layers=2", "model.tiny.num_heads=2",
    "model.tiny.intermediate_size=64", "data.num_train=200", "data.num_eval=16",
    "rollout.prompts_per_step=4", "rollout.samples_per_prompt=8",
    "rollout.max_response_tokens=3", "train.micro_batch_samples=32", "train.progress=false",
    "optim.lr=1e-2", "optim.warmup_steps=0", "optim.schedule=constant", "threads=1",
    # learnable from scratch in a few steps: start the answer with a digit
    r"rewards.parts=[{kind: format, args: {pattern: '^\d', require_eos: false}}]",
    "train.eval_every=0", "resources.rollout_workers=2", "resources.rollout_worker_copies=2",
    "rollout.max_staleness=1", "algorithm.tis_cap=2",
]


@pytest.fixture(scope="module")
def pool_components(tmp_path_factory):
    run = tmp_path_factory.mktemp("async")
    cfg = load_config(None, [*ASYNC, f"run_dir={run}", "train.steps=14",
                             "train.checkpoint_every=0"])
    c = build_components(cfg)
    yield cfg, c
    c.close()


def _metrics(cfg):
    with open(os.path.join(cfg.run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def _descendants(pid: int) -> set[int]:
    out = {pid}
    for child in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                text=True).stdout.split():
        out |= _descendants(int(child))
    return out


def test_every_ray_socket_listens_on_loopback_only(pool_components):
    _, c = pool_components
    ours = _descendants(os.getpid()) | set(c.engine.worker_pids())
    listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    mine = [line for line in listening.splitlines()
            if any(f"pid={p}," in line for p in ours)]
    assert mine, "found no listening socket of this Ray instance to check"
    for line in mine:
        assert line.split()[3].startswith(LOOPBACK), line


def test_killed_worker_restarts_and_reissues_exactly_its_requests(pool_components, caplog):
    _, c = pool_components
    pool = c.engine
    reqs = [GenerationRequest(p, 3, i) for i, p in enumerate(c.data.train[:6])]
    params = SamplingParams(max_new_tokens=3, seed=123)
    before = pool.generate(reqs, params)
    restarts = pool.restarts
    os.kill(pool.worker_pids()[0], signal.SIGKILL)
    with caplog.at_level(logging.WARNING, logger="focusrl.distributed.workers"):
        after = pool.generate(reqs, params)
    assert pool.restarts == restarts + 1
    assert "rollout worker 0 died" in caplog.text
    # nothing lost, nothing twice: the same samples, in the same order
    assert [(s.group_id, s.response_ids) for s in after] == \
        [(s.group_id, s.response_ids) for s in before]


def test_async_staleness1_learns_within_the_bound_and_resumes(pool_components):
    cfg, c = pool_components
    train(cfg, components=c, stop_at=6)  # checkpoint at step 6, as an interruption would
    os.kill(c.engine.worker_pids()[1], signal.SIGKILL)  # a worker dies between the runs
    train(cfg, resume=True, components=c)
    rows = _metrics(cfg)
    assert [r["step"] for r in rows] == list(range(1, 15))
    for r in rows:  # from the per-sample policy versions of each trained batch
        assert r["staleness_max"] <= 1 and r["stale_dropped"] == 0
        assert r["num_samples"] == 32  # every group present exactly once
    # resume guarantee: after the checkpoint of step 6, only versions >= 6 are trained
    assert all(r["policy_version_min"] >= 6 for r in rows if r["step"] > 6)
    assert rows[-1]["worker_restarts"] >= 1
    assert all(r["time_sync"] >= 0 for r in rows)
    assert any(r.get("time_sync_worker_load", 0) > 0 for r in rows)  # workers' load times
    first = sum(r["reward_mean"] for r in rows[:3]) / 3
    last = sum(r["reward_mean"] for r in rows[-3:]) / 3
    assert last > first + 0.1, (first, last)


def test_staleness2_runs_two_batches_ahead_within_the_bound(pool_components, tmp_path):
    """max_staleness=2: up to 2 batches generate ahead of the trainer (3 at once at the
    start, on the initial weights), and the per-sample versions show no trained sample
    more than 2 versions old."""
    first, c = pool_components
    cfg = load_config(None, [*ASYNC, f"run_dir={tmp_path}", "train.steps=6",
                             "train.checkpoint_every=0", "rollout.max_staleness=2"])
    c.cfg = cfg
    try:
        train(cfg, components=c)
    finally:
        c.cfg = first
    rows = _metrics(cfg)
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert all(r["staleness_max"] <= 2 and r["stale_dropped"] == 0 for r in rows)
    assert all(r["rollout_in_flight"] <= 3 for r in rows)
    assert max(r["rollout_in_flight"] for r in rows) == 3  # several batches in flight
    assert rows[2]["staleness_max"] == 2  # batch 3 started on version 0, trained at 2


def test_a_request_the_cluster_cannot_satisfy_names_what_is_missing(pool_components,
                                                                    require_ray):
    with pytest.raises(ConfigError, match="GPU: 2 wanted"):
        check_resources(require_ray, ResourcesConfig(rollout_workers=2, rollout_worker_gpus=1))


def test_hung_reward_is_abandoned_with_the_fallback_in_async_mode(pool_components, tmp_path):
    from focusrl.rewards.registry import REWARDERS, build_rewards

    _, c = pool_components
    calls = []

    class HangsOnFirstCall:
        def score(self, samples):
            calls.append(len(samples))
            if len(calls) == 1:
                time.sleep(8)  # abandoned after timeout_s; the daemon thread ends later
            return [1.0] * len(samples)

    REWARDERS["hangs_on_first_call"] = HangsOnFirstCall
    try:
        cfg = load_config(None, [*ASYNC, f"run_dir={tmp_path}", "train.steps=3",
                                 "train.checkpoint_every=0", "rewards.fallback_reward=-1",
                                 "rewards.parts=[{kind: hangs_on_first_call, timeout_s: 1}]"])
        saved, c.rewards = c.rewards, build_rewards(cfg.rewards)
        try:
            train(cfg, components=c)
        finally:
            c.rewards = saved
    finally:
        del REWARDERS["hangs_on_first_call"]
    rows = _metrics(cfg)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert rows[0]["reward_failures/hangs_on_first_call"] == 32  # counted per sample
    assert rows[0]["reward_mean"] == -1.0  # the fallback
    # while the abandoned call still runs, the part is "busy": later batches get the
    # fallback at once, counted (rewards/base.py: never a second thread per part); once it
    # returns, the part scores again
    for r in rows[1:]:
        assert r["reward_mean"] == 1.0 or (
            r["reward_mean"] == -1.0 and r["reward_failures/hangs_on_first_call"] == 32)


class HangsUntilMarked:
    """A reward part with no time limit of its own that hangs (60 s) unless its marker
    file exists; it creates the marker first, so a replacement worker scores at once."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def score(self, samples):
        if not os.path.exists(self.marker):
            open(self.marker, "w").close()
            time.sleep(60)
        return [1.0] * len(samples)


def test_hung_reward_worker_is_killed_and_its_samples_get_the_fallback(pool_components,
                                                                       tmp_path):
    """resources.reward_workers=1: scoring runs in a Ray actor; the actor that hangs is
    abandoned after reward_worker_timeout_s, its process killed and replaced, and its
    samples get the fallback reward, counted per sample."""
    from ray import cloudpickle

    from focusrl.distributed.reward_workers import RayRewardPool
    from focusrl.rewards.registry import REWARDERS

    first, c = pool_components
    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)  # the actor cannot import this test file
    REWARDERS["hangs_until_marked"] = HangsUntilMarked
    try:
        cfg = load_config(None, [
            *ASYNC, f"run_dir={tmp_path}", "train.steps=3", "train.checkpoint_every=0",
            "rewards.fallback_reward=-1", "resources.reward_workers=1",
            "resources.reward_worker_timeout_s=3",
            f"rewards.parts=[{{kind: hangs_until_marked, args: {{marker: '{tmp_path}/m'}}}}]"])
        pool = RayRewardPool(cfg)
        hung = pool.worker_pids()[0]
        saved, c.rewards, c.cfg = c.rewards, pool, cfg
        try:
            train(cfg, components=c)
        finally:
            c.rewards, c.cfg = saved, first
            pool.close()
    finally:
        del REWARDERS["hangs_until_marked"]
        cloudpickle.unregister_pickle_by_value(module)
    rows = _metrics(cfg)
    assert [r["step"] for r in rows] == [1, 2, 3]
    # one batch (1 or 2: they are scored side by side) met the hung worker: every sample
    # got the fallback, counted; the replacement scored the others
    hit = [r for r in rows if r["reward_mean"] == -1.0]
    assert len(hit) == 1 and hit[0]["reward_failures/hangs_until_marked"] == 32
    assert all(r["reward_mean"] == 1.0 and "reward_failures/hangs_until_marked" not in r
               for r in rows if r is not hit[0])
    assert pool.restarts == 1
    for _ in range(50):  # the hung worker's process was killed, not left running
        if not os.path.exists(f"/proc/{hung}"):
            break
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{hung}")


def test_two_rollout_workers_and_two_trainer_ranks_match_one_trainer(pool_components, tmp_path):
    """Synchronous, on the same two Ray workers (same seeded chunks, so the same samples
    for the same weights): 2 gloo trainer ranks, replicated or FSDP2-sharded (the Ray
    workers then get the gathered full weights), == 1 trainer process, step for step, to
    1e-5 relative in the loss and grad norm, 1e-4 absolute in the final weights."""
    from focusrl.distributed.data_parallel import DataParallelUpdate
    from focusrl.trainer.update import policy_update

    first, c = pool_components
    init = {k: v.detach().clone() for k, v in c.model.state_dict().items()}
    sampler0 = c.sampler.state_dict()
    runs = {}
    for procs, sharding in ((1, "replicate"), (2, "replicate"), (2, "fsdp")):
        cfg = load_config(None, [*ASYNC, f"run_dir={tmp_path / f'{procs}{sharding}'}",
                                 "train.steps=3", "train.checkpoint_every=0",
                                 "rollout.max_staleness=0", f"resources.trainer_procs={procs}",
                                 f"resources.trainer_sharding={sharding}"])
        c.cfg = cfg
        c.model.load_state_dict(init)
        c.sampler.load_state_dict(sampler0)
        c.engine.load_state_dict({"calls": 0, "policy_version": 0})
        c.loss_generator.manual_seed(cfg.seed + 1)
        c.policy_update = DataParallelUpdate(cfg, c.device) if procs > 1 else policy_update
        try:
            train(cfg, components=c)
        finally:
            if procs > 1:
                c.policy_update.close()
                c.policy_update = policy_update
            c.cfg = first
        runs[procs, sharding] = (_metrics(cfg),
                                 {k: v.clone() for k, v in c.model.state_dict().items()})
    one, w1 = runs[1, "replicate"]
    for key in ((2, "replicate"), (2, "fsdp")):
        two, w2 = runs[key]
        for a, b in zip(one, two, strict=True):
            assert a["reward_mean"] == b["reward_mean"], key  # same samples
            assert a["loss"] == pytest.approx(b["loss"], rel=1e-5, abs=1e-7), key
            assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-5), key
        # Adam divides by sqrt(v): where a gradient is ~0, summation-order noise becomes a
        # visible step (lr 1e-2); 1e-4 is 1% of one step
        assert max(float((w1[k] - w2[k]).abs().max()) for k in w1) < 1e-4, key
