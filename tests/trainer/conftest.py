import pytest
import torch

from focusrl.config import load_config

TINY = [
    "model.tiny.hidden_size=32", "model.tiny.num_layers=2", "model.tiny.num_heads=2",
    "model.tiny.intermediate_size=64", "data.num_train=200", "data.num_eval=16",
    "rollout.prompts_per_step=4", "rollout.samples_per_prompt=4",
    "rollout.max_response_tokens=4", "train.micro_batch_samples=8", "train.progress=false",
    "optim.lr=1e-3", "threads=1",
]


@pytest.fixture
def tiny_config(tmp_path):
    torch.set_num_threads(1)

    def make(*overrides: str):
        return load_config(None, [*TINY, f"run_dir={tmp_path / 'run'}", *overrides])

    return make


@pytest.fixture(scope="session")
def tiny_overrides():
    return list(TINY)
