"""What a run leaves besides checkpoints: metrics.jsonl mirrored to TensorBoard (read back
with TensorBoard's own EventAccumulator), the bounded samples log, the doctor's warnings,
and a quiet checkpoint. (~10 s)"""

from __future__ import annotations

import logging

import pytest

from focusrl.report.samples import read_samples
from focusrl.trainer.logging import read_metrics
from focusrl.trainer.rl import train


def test_run_writes_tensorboard_samples_and_doctor_warnings(tiny_config, caplog, capfd):
    pytest.importorskip("tensorboard", reason="pip install 'focusrl[tensorboard]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = tiny_config("train.steps=3", "train.eval_every=2", "train.samples_per_eval=2",
                      "train.checkpoint_every=2", "train.loggers=[jsonl,tensorboard]",
                      "doctor.window=2", "doctor.max_truncated_frac=0.0")
    with caplog.at_level(logging.WARNING):
        train(cfg)
    run = cfg.run_dir
    metrics = read_metrics(f"{run}/metrics.jsonl")

    acc = EventAccumulator(f"{run}/tensorboard")
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for record in metrics:
        for key, val in record.items():
            if key == "step" or not isinstance(val, (int, float)):
                continue
            assert key in tags, f"{key} is in metrics.jsonl but not in TensorBoard"
            events = {e.step: e.value for e in acc.Scalars(key)}
            assert events[record["step"]] == pytest.approx(val, rel=1e-6, abs=1e-7)
    assert "eval/accuracy" in tags and "reward/numeric" in tags  # same names as the jsonl

    rows = read_samples(f"{run}/samples.jsonl")
    assert [r["step"] for r in rows] == [2, 2, 3, 3]  # samples_per_eval per evaluation
    assert {"prompt", "response", "reward_parts", "reward", "correct"} <= set(rows[0])
    assert rows[0]["prompt"] == rows[2]["prompt"]  # the same held-out prompts each time

    warned = [r.getMessage() for r in caplog.records if "doctor: high_truncation" in
              r.getMessage()]
    assert len(warned) == 1 and "Fix:" in warned[0]  # once, when the rule starts firing
    assert "Writing model shards" not in capfd.readouterr().err
