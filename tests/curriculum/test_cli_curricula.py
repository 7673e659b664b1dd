"""Every curriculum drives `focusrl sft` and `focusrl train` from the command line."""

from __future__ import annotations

import pytest
import torch

from focusrl.cli import main
from focusrl.curriculum.edco import EDCOSampler
from focusrl.curriculum.knapsack import KnapsackSampler
from focusrl.trainer.logging import read_metrics

TINY = [
    "model.tiny.hidden_size=32", "model.tiny.num_layers=2", "model.tiny.num_heads=2",
    "model.tiny.intermediate_size=64", "data.num_eval=8", "data.arithmetic.max_digits=3",
    "rollout.prompts_per_step=4", "rollout.samples_per_prompt=4",
    "rollout.max_response_tokens=4", "train.micro_batch_samples=8", "train.progress=false",
    "threads=1", "curriculum.edco_pool_prompts=8", "curriculum.edco_refresh_steps=2",
]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _count_refreshes(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = EDCOSampler.refresh

    def counted(self):
        calls.append(self.calls)
        original(self)

    monkeypatch.setattr(EDCOSampler, "refresh", counted)
    return calls


def test_edco_drives_sft_from_the_cli(tmp_path, capsys, monkeypatch):
    refreshes = _count_refreshes(monkeypatch)
    assert main(["sft", *TINY, "data.num_train=32", "sft.steps=4", "sft.batch_sequences=4",
                 "curriculum.kind=edco", f"run_dir={tmp_path}"]) == 0
    out = capsys.readouterr().out
    assert refreshes == [0, 2]  # re-estimated under the model being trained
    assert (tmp_path / "sft_model" / "config.json").exists() and "SFT: 4 steps" in out
    assert len(read_metrics(tmp_path / "sft_metrics.jsonl")) == 4


@pytest.mark.parametrize("kind", ["easy_to_hard", "perplexity"])
def test_static_curricula_drive_sft_from_the_cli(tmp_path, capsys, kind):
    assert main(["sft", *TINY, "data.num_train=32", "sft.steps=2", "sft.batch_sequences=4",
                 f"curriculum.kind={kind}", f"run_dir={tmp_path}"]) == 0
    assert "SFT: 2 steps" in capsys.readouterr().out
    assert read_metrics(tmp_path / "sft_metrics.jsonl")[-1]["sft_loss"] > 0


def test_knapsack_drives_rl_from_the_cli(tmp_path, monkeypatch):
    counts: list[list[int]] = []
    original = KnapsackSampler.next_prompts

    def recorded(self, n):
        picks = original(self, n)
        counts.append([k for _, k in picks])
        return picks

    monkeypatch.setattr(KnapsackSampler, "next_prompts", recorded)
    # 8 prompts, 4 per step: from step 3 every prompt has a success rate
    assert main(["train", *TINY, "data.num_train=8", "train.steps=4", "train.eval_every=0",
                 "train.checkpoint_every=0", "curriculum.kind=knapsack",
                 f"run_dir={tmp_path}"]) == 0
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert counts[:2] == [[4, 4, 4, 4]] * 2  # unseen prompts: the default
    assert all(sum(c) <= 16 for c in counts)  # never over the budget
    assert [r["samples_generated"] for r in rows] == [float(sum(c)) for c in counts]


@pytest.mark.parametrize("kind", ["edco", "easy_to_hard", "perplexity"])
def test_curricula_drive_rl_from_the_cli(tmp_path, kind):
    assert main(["train", *TINY, "data.num_train=32", "train.steps=2", "train.eval_every=0",
                 "train.checkpoint_every=0", f"curriculum.kind={kind}",
                 f"run_dir={tmp_path}"]) == 0
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2]
