"""Scoring while generating changes nothing but the timing."""

from focusrl.trainer.logging import read_metrics
from focusrl.trainer.rl import train


def test_overlapped_scoring_gives_the_same_run(tiny_config, tmp_path):
    common = ["train.steps=3", "train.eval_every=0", "train.checkpoint_every=0",
              "rollout.batch_samples=8"]  # 2 chunks of whole groups per step
    rows = {}
    for overlap in ("false", "true"):
        cfg = tiny_config(*common, f"rewards.overlap_with_generation={overlap}",
                          f"run_dir={tmp_path / overlap}")
        train(cfg)
        rows[overlap] = [{k: v for k, v in r.items() if not k.startswith("time_")}
                         for r in read_metrics(tmp_path / overlap / "metrics.jsonl")]
    assert rows["true"] == rows["false"]
    assert len(rows["true"]) == 3
