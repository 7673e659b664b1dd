"""Multi-turn episodes in asynchronous training (rollout.max_staleness=2, so several batches
of episodes run at once, each in its own thread) on a Ray rollout worker of a local 2-CPU
cluster (loopback only): every trained episode obeys the staleness bound and each batch
reports its own episode counts. About 30 s here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from focusrl.config import load_config
from focusrl.trainer.components import build_components
from focusrl.trainer.rl import train

pytestmark = pytest.mark.usefixtures("require_ray")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_episodes_train_asynchronously_within_the_staleness_bound(tmp_path):
    cfg = load_config(str(EXAMPLES / "env_guess_number.yaml"), [
        f"run_dir={tmp_path}", "train.steps=5", "train.eval_every=0", "train.progress=false",
        "train.checkpoint_every=0", "data.num_train=100", "data.num_eval=8",
        "model.tiny.hidden_size=32", "model.tiny.num_layers=2", "model.tiny.num_heads=2",
        "model.tiny.intermediate_size=64", "rollout.prompts_per_step=2",
        "rollout.samples_per_prompt=4", "env.max_turns=3", "threads=1",
        "resources.rollout_workers=1", "rollout.max_staleness=2", "algorithm.tis_cap=2"])
    c = build_components(cfg)
    try:
        train(cfg, components=c)
    finally:
        c.close()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    for r in rows:
        assert r["episodes"] == 8 and r["num_samples"] == 8  # each episode trained once
        assert r["staleness_max"] <= 2 and r["stale_dropped"] == 0
        assert r["episode_turns"] >= 8  # at least one model turn per episode
    # the producer ran ahead: some step trained on episodes of an older version
    assert any(r["staleness_max"] >= 1 for r in rows[1:])
    assert max(r["rollout_in_flight"] for r in rows) >= 2  # batches of episodes at once
