"""The SIRLC example config validates and builds a working reward pipeline."""

from __future__ import annotations

from pathlib import Path

from focusrl.config import load_config
from focusrl.models.tiny import build_char_tokenizer, build_tiny_model
from focusrl.rewards.judges import SelfEvalReward
from focusrl.rewards.registry import build_rewards
from focusrl.types import Sample

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sirlc_selfeval.yaml"


def test_sirlc_example_builds_and_scores_label_free():
    cfg = load_config(EXAMPLE)
    tok = build_char_tokenizer()
    model = build_tiny_model(tok, hidden_size=32, num_layers=1, num_heads=2,
                             intermediate_size=64)
    pipe = build_rewards(cfg.rewards, {"policy": model, "tokenizer": tok, "device": "cpu"})
    assert isinstance(pipe.rewarders["self_eval"], SelfEvalReward)
    samples = [Sample("1+2=", 0, [], [], [], prompt_text="1+2=", response_text="3", answer="3")]
    assert pipe.score(samples).failures == []
    p_yes = samples[0].reward_parts["self_eval"]
    assert 0.0 < p_yes < 1.0
    assert samples[0].reward_parts["accuracy_monitor"] == 1.0
    assert samples[0].reward == p_yes  # the monitor has weight 0
