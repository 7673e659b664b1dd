"""LoRA RL through peft: only the adapter trains, checkpoints hold the adapter, and a
resumed LoRA run continues it exactly."""

import pytest
import torch

from focusrl.config import load_config
from focusrl.configtools import ConfigError
from focusrl.trainer.components import build_components
from focusrl.trainer.logging import read_metrics
from focusrl.trainer.rl import train

LORA = ["model.lora.enabled=true", "model.lora.r=4", "optim.lr=1e-2", "train.steps=2",
        "train.eval_every=0", "train.checkpoint_every=1",
        "algorithm.entropy_coef=0.01"]  # a gradient even while every reward is 0


def test_only_the_adapter_trains_and_resume_restores_it(tiny_config, tmp_path):
    cfg = tiny_config(*LORA, f"run_dir={tmp_path / 'a'}")
    c = build_components(cfg)
    trainable = {n for n, p in c.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in c.model.named_parameters()}
    train(cfg, components=c)
    after = dict(c.model.named_parameters())
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed and changed <= trainable  # the base weights never move
    files = {p.name for p in (tmp_path / "a/checkpoints/step_000002/model").iterdir()}
    assert "adapter_model.safetensors" in files and "model.safetensors" not in files

    # stop after step 1 and resume: the same metrics as the uninterrupted run
    cfg_b = tiny_config(*LORA, f"run_dir={tmp_path / 'b'}")
    train(cfg_b, stop_at=1)
    train(cfg_b, resume=True)
    drop = ("time_",)
    rows = [[{k: v for k, v in r.items() if not k.startswith(drop)}
             for r in read_metrics(tmp_path / d / "metrics.jsonl")] for d in ("a", "b")]
    assert rows[0] == rows[1]



@pytest.mark.parametrize("override, message", [
    ("resources.rollout_workers=2", "Ray rollout workers take full weights"),
    ("resources.trainer_sharding=fsdp", "trainer_sharding=replicate"),
])
def test_lora_where_it_is_not_supported_is_a_config_error(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, ["model.lora.enabled=true", override])
