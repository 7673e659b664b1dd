"""Every example config validates, and the CLI's config errors name the fix."""

from pathlib import Path

import pytest

from focusrl.config import load_config
from focusrl.configtools import ConfigError

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_loads(path):
    cfg = load_config(path)
    assert cfg.rollout.samples_per_prompt >= 1


def test_examples_exist():
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("override, message", [
    ("rollout.sample_per_prompt=4", "Did you mean 'samples_per_prompt'"),
    ("rollout.temperature=hot", "rollout.temperature: expected a number"),
    ("algorithm.kl_estimator=k9", "choose one of 'k1', 'k2', 'k3'"),
    ("train.steps=1.5", "train.steps: expected an integer"),
    ("rollout.top_p=0", "rollout.top_p must be in (0, 1]"),
    ("data.on_long_prompt=drop", "'skip', 'error'"),
    ("rewards.parts=[{kind: numerc}]", "Did you mean 'numeric'"),
    ("stepz", "must look like key.sub=value"),
])
def test_bad_config_values_name_the_field_and_the_fix(override, message):
    with pytest.raises(ConfigError) as err:
        cfg = load_config(None, [override])
        from focusrl.rewards.registry import build_rewards

        build_rewards(cfg.rewards)
    assert message in str(err.value)


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_sirlc_example_trains_label_free(tmp_path):
    """The self-evaluation example runs RL steps; accuracy comes from the monitor part."""
    from focusrl.trainer.logging import read_metrics
    from focusrl.trainer.rl import train

    path = Path(__file__).resolve().parents[1] / "examples" / "sirlc_selfeval.yaml"
    cfg = load_config(path, [
        f"run_dir={tmp_path}", "train.steps=2", "train.eval_every=0",
        "train.checkpoint_every=0", "train.progress=false", "model.tiny.hidden_size=32",
        "model.tiny.num_layers=1", "model.tiny.num_heads=2", "threads=1"])
    train(cfg)
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        assert 0.0 < r["reward/self_eval"] < 1.0  # P("yes") is a probability
        assert r["reward_mean"] == pytest.approx(r["reward/self_eval"])  # monitor: weight 0
