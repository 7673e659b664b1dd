"""`focusrl quickstart` ends by writing its report and printing its path (a shrunken
quickstart: tiny model, a few SFT and RL steps; ~5 s)."""

from __future__ import annotations

import torch

from focusrl.cli import main

SMALL = ["model.tiny.hidden_size=32", "model.tiny.num_layers=1", "model.tiny.num_heads=2",
         "model.tiny.intermediate_size=64", "data.num_train=200", "data.num_eval=8",
         "sft.steps=3", "sft.batch_sequences=8", "train.steps=2", "train.eval_every=1",
         "rollout.prompts_per_step=2", "rollout.samples_per_prompt=4", "train.progress=false",
         "train.samples_per_eval=3", "threads=1"]


def test_quickstart_writes_and_prints_its_report(tmp_path, capsys):
    torch.set_num_threads(1)
    out = tmp_path / "qs"
    assert main(["quickstart", "--out", str(out), *SMALL]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert f"report: {out / 'report.html'}" in printed[-2]
    assert printed[-1].startswith("held-out accuracy: before")  # still the last line
    html = (out / "report.html").read_text()
    assert html.count('<svg class="plot"') >= 15
    assert "<figcaption>eval/accuracy</figcaption>" in html
    # samples of the evaluation before RL (step 0) and of steps 1 and 2
    assert html.count("<tr><td>0</td>") == 3 and html.count("<tr><td>2</td>") == 3
