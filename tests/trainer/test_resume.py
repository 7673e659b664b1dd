"""A run resumed from a checkpoint reproduces the uninterrupted run step for step."""

import json

import pytest

from focusrl.trainer.checkpoint import latest_checkpoint
from focusrl.trainer.logging import read_metrics
from focusrl.trainer.rl import train

TIMING = ("time_",)


def _comparable(rows):
    return [{k: v for k, v in r.items() if not k.startswith(TIMING)} for r in rows]


@pytest.mark.parametrize("extra", [
    [],
    ["algorithm.kl_coef=0.05", "train.passes_per_batch=2", "train.eval_samples_per_prompt=2"],
    ["algorithm.rlpt.enabled=true", "algorithm.rlpt.k=4"],
])
def test_resumed_run_matches_uninterrupted_run(tiny_config, tmp_path, extra):
    base = ["train.steps=6", "train.eval_every=3", "train.checkpoint_every=0", *extra]
    full = tiny_config(*base, f"run_dir={tmp_path / 'full'}")
    train(full)
    expected = read_metrics(tmp_path / "full" / "metrics.jsonl")

    part = tiny_config(*base, f"run_dir={tmp_path / 'part'}")
    train(part, stop_at=4)
    assert latest_checkpoint(tmp_path / "part").name == "step_000004"
    assert len(read_metrics(tmp_path / "part" / "metrics.jsonl")) == 4
    train(part, resume=True)
    got = read_metrics(tmp_path / "part" / "metrics.jsonl")

    assert [r["step"] for r in got] == list(range(1, 7))
    assert _comparable(got) == _comparable(expected)


def test_resume_drops_metric_lines_past_the_checkpoint(tiny_config, tmp_path):
    cfg = tiny_config("train.steps=4", "train.checkpoint_every=2", "train.eval_every=0")
    train(cfg, stop_at=3)  # checkpoints at 2 and 3 (stop)
    metrics = tmp_path / "run" / "metrics.jsonl"
    # simulate a crash after step 3 was logged but before its checkpoint existed
    rows = read_metrics(metrics)
    metrics.write_text("".join(json.dumps(r) + "\n" for r in rows + [{"step": 99}]))
    train(cfg, resume=True)
    assert [r["step"] for r in read_metrics(metrics)] == [1, 2, 3, 4]
