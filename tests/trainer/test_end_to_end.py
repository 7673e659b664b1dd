"""CLI smoke: train -> checkpoint -> resume -> eval on a tiny config."""

import json
import math

from focusrl.cli import main
from focusrl.trainer.logging import read_metrics

REQUIRED = {"step", "reward_mean", "reward_std", "accuracy", "response_length", "entropy",
            "clip_frac", "grad_norm", "lr", "tokens", "time_rollout", "time_reward",
            "time_update", "time_step"}


def test_train_checkpoint_resume_eval(tmp_path, capsys, tiny_overrides):
    TINY = tiny_overrides
    run = tmp_path / "run"
    args = [*TINY, f"run_dir={run}", "train.steps=3", "train.eval_every=3",
            "train.checkpoint_every=2", "train.eval_samples_per_prompt=2"]
    assert main(["train", *args]) == 0
    rows = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert set(rows[0]) >= REQUIRED
    assert all(math.isfinite(r["grad_norm"]) for r in rows)
    assert 0.0 <= rows[-1]["eval/accuracy"] <= 1.0 and "eval/pass@2" in rows[-1]
    assert (run / "config.yaml").exists()
    ckpts = sorted(p.name for p in (run / "checkpoints").glob("step_*"))
    assert ckpts == ["step_000002", "step_000003"]
    assert (run / "checkpoints" / "step_000003" / "model" / "model.safetensors").exists()

    # extend the run: resume continues at step 4
    assert main(["train", *args[:-3], "train.steps=5", "train.checkpoint_every=0",
                 "train.eval_every=0", "--resume", "--allow-config-change"]) == 0
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [1, 2, 3, 4, 5]

    capsys.readouterr()
    model = run / "checkpoints" / "step_000005" / "model"
    assert main(["eval", *TINY, f"run_dir={run}", "--model", str(model), "--samples", "4",
                 "--k", "1,4", "--temperature", "1.0", "--format", "json",
                 "--json", str(tmp_path / "eval.json")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["metrics"]) >= {"pass@1", "pass@4", "avg@4", "maj@4"}
    assert out["metrics"]["pass@1"] <= out["metrics"]["pass@4"]
    assert "difficulty" in out["breakdowns"]
    assert len(json.loads((tmp_path / "eval.json").read_text())["prompts"]) == 16
    # a run directory works too (its newest checkpoint), printed as a table
    assert main(["eval", *TINY, f"run_dir={run}", "--model", str(run)]) == 0
    assert "pass@1" in capsys.readouterr().out


def test_unknown_key_is_a_config_error_with_suggestion(capsys):
    assert main(["train", "rollout.sample_per_prompt=4"]) == 2
    err = capsys.readouterr().err
    assert "rollout.sample_per_prompt" in err and "samples_per_prompt" in err
