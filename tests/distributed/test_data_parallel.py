"""Two gloo trainer ranks against one process: same seed, same batches, same updates;
the distributed run is interrupted after step 2 and resumed from its checkpoint.

Tolerance: per-step losses within 1e-5 (relative) and final weights within 1e-5 (absolute);
the only difference is float summation order (two shards, one all-reduce). ~20-30 s.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from focusrl.config import load_config
from focusrl.distributed.data_parallel import _combine, shard_bounds
from focusrl.trainer.components import build_components
from focusrl.trainer.rl import train

DP = [
    "model.tiny.hidden_size=32", "model.tiny.num_layers=2", "model.tiny.num_heads=2",
    "model.tiny.intermediate_size=64", "data.num_train=200", "data.num_eval=16",
    "rollout.prompts_per_step=4", "rollout.samples_per_prompt=4",
    "rollout.max_response_tokens=4", "train.micro_batch_samples=4", "train.progress=false",
    "optim.lr=1e-2", "threads=1", "train.steps=3", "train.eval_every=0",
    "train.checkpoint_every=0", "train.passes_per_batch=2", "algorithm.kl_coef=0.01",
    r"rewards.parts=[{kind: format, args: {pattern: '^\d', require_eos: false}}]",
]


def _listening_off_loopback() -> list[str]:
    """Listening TCP sockets of this process and its children not on 127.0.0.1."""
    import os
    import subprocess

    pids = {str(os.getpid())} | set(subprocess.run(
        ["pgrep", "-P", str(os.getpid())], capture_output=True, text=True).stdout.split())
    lines = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    return [line for line in lines.splitlines()
            if any(f"pid={p}," in line for p in pids)
            and not line.split()[3].startswith(("127.0.0.1:", "[::ffff:127.0.0.1]:"))]


def _run(tmp_path, name, *extra, interrupt_at=0):
    cfg = load_config(None, [*DP, f"run_dir={tmp_path / name}", *extra])
    c = build_components(cfg)
    try:
        if interrupt_at:  # checkpoint and stop, then --resume (the same helper ranks)
            train(cfg, components=c, stop_at=interrupt_at)
        train(cfg, components=c, resume=bool(interrupt_at))
        weights = {k: v.detach().clone() for k, v in c.model.state_dict().items()}
        assert not _listening_off_loopback()  # the ranks' sockets stay on loopback
    finally:
        c.close()
    lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    return rows, weights


def test_two_gloo_ranks_match_one_process_step_for_step_across_a_resume(tmp_path):
    torch.set_num_threads(1)
    single, w1 = _run(tmp_path, "single")
    dp, w2 = _run(tmp_path, "dp", "resources.trainer_procs=2", interrupt_at=2)
    assert len(single) == len(dp) == 3
    for a, b in zip(single, dp):
        assert a["reward_mean"] == b["reward_mean"]  # same weights -> same samples
        assert {"loss", "grad_norm", "entropy", "kl"} <= a.keys()
        for key in ("loss", "grad_norm", "entropy", "kl", "num_samples"):
            assert math.isclose(a[key], b[key], rel_tol=1e-5, abs_tol=1e-7), (key, a, b)
    assert max(float((w1[k] - w2[k]).abs().max()) for k in w1) < 1e-5


def test_two_fsdp_ranks_match_one_process_across_a_resume(tmp_path):
    """resources.trainer_sharding=fsdp (FSDP2 fully_shard, gloo on the CPU): each rank
    trains a sharded copy; rank 0's full model gets the gathered weights after each step
    (what generation and checkpoints read). Same tolerances as replicated ranks; the
    resume reloads the gathered optimizer state into the shards."""
    torch.set_num_threads(1)
    single, w1 = _run(tmp_path, "single")
    fsdp, w2 = _run(tmp_path, "fsdp", "resources.trainer_procs=2",
                    "resources.trainer_sharding=fsdp", interrupt_at=2)
    assert len(single) == len(fsdp) == 3
    for a, b in zip(single, fsdp):
        assert a["reward_mean"] == b["reward_mean"]  # same gathered weights -> same samples
        for key in ("loss", "grad_norm", "entropy", "kl", "num_samples"):
            assert math.isclose(a[key], b[key], rel_tol=1e-5, abs_tol=1e-7), (key, a, b)
    assert max(float((w1[k] - w2[k]).abs().max()) for k in w1) < 1e-5


def test_fsdp_micro_batches_are_equal_in_number_on_every_rank():
    from focusrl.distributed.fsdp import lockstep_micro_batch

    assert lockstep_micro_batch([9, 8], 4) == [3, 3]  # 3 micro-batches each
    assert lockstep_micro_batch([8, 8], 4) == [4, 4]
    with pytest.raises(RuntimeError, match="micro-batches"):
        lockstep_micro_batch([9, 8], 1)  # 9 vs 8 one-sample micro-batches


def test_shards_cover_the_batch_once_and_metrics_combine():
    for n, world in ((16, 2), (7, 3), (3, 3)):
        spans = [shard_bounds(n, world, r) for r in range(world)]
        assert spans[0][0] == 0 and spans[-1][1] == n
        assert all(spans[i][1] == spans[i + 1][0] for i in range(world - 1))
    got = _combine([{"loss": 0.25, "grad_norm": 2.0, "is_weight_max": 1.5},
                    {"loss": 0.5, "grad_norm": 2.0, "is_weight_max": 1.75}])
    assert got == {"loss": 0.75, "grad_norm": 2.0, "is_weight_max": 1.75}
