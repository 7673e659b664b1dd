"""A new user's first hour, driven through the CLI: the README tour in order, run
directories, validation errors, the end-of-run summary, missing extras and paths."""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml

from focusrl.cli import main
from focusrl.config import load_config
from focusrl.trainer.checkpoint import prune_checkpoints
from focusrl.trainer.logging import read_metrics
from focusrl.trainer.rl import train

ROOT = Path(__file__).resolve().parents[1]
FAST = [  # appended to every tour command: a tiny model and a few steps
    "model.tiny.hidden_size=32", "model.tiny.num_layers=1", "model.tiny.num_heads=2",
    "model.tiny.intermediate_size=64", "data.num_train=64", "data.num_eval=4",
    "rollout.prompts_per_step=2", "rollout.samples_per_prompt=2",
    "rollout.max_response_tokens=3", "train.steps=2", "train.eval_every=0",
    "train.eval_samples_per_prompt=0", "train.progress=false", "sft.steps=2",
    "sft.batch_sequences=4", "threads=1",
]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


def tour_commands() -> list[list[str]]:
    """The `focusrl ...` lines of the README's tour block, comments stripped."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## A short tour", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [shlex.split(line, comments=True)[1:] for line in block.splitlines()
            if line.startswith("focusrl ")]


def test_readme_tour_runs_in_order(in_tmp, capsys):
    """Each tour command, as written plus FAST overrides, in a fresh directory (~15 s)."""
    assert main(["examples"]) == 0  # what an installed-package user runs first
    assert (in_tmp / "examples" / "grpo_arithmetic.yaml").exists()
    commands = tour_commands()
    assert [c[0] for c in commands] == ["sft", "train", "train", "train", "eval",
                                        "--help-config"]
    for argv in commands:
        extra = [] if argv[0] == "--help-config" else FAST
        if argv[0] == "eval":
            extra = ["data.num_eval=2", "--limit", "2", "--max-new-tokens", "4"]
        assert main([*argv, *extra]) == 0, argv
        out = capsys.readouterr().out
        if argv[0] == "sft":
            assert "SFT: 2 steps" in out and "model.path=runs/warm/sft_model" in out
        if argv[0] == "train":
            assert re.search(r"run runs/\S+: (trained steps|nothing to do)", out), out
            assert "checkpoint: runs/" in out and "metrics: runs/" in out
        if "--resume" in argv:
            assert "resuming runs/grpo from runs/grpo/checkpoints/step_000002" in out
            assert "nothing to do: the run is already at step 2/2" in out
        if argv[0] == "eval":
            assert "pass@1" in out
    composed = list((in_tmp / "runs").glob("grpo_arithmetic+rlpt-*/config.yaml"))
    assert len(composed) == 1
    cfg = yaml.safe_load(composed[0].read_text())
    assert cfg["algorithm"]["rlpt"]["enabled"] and cfg["optim"]["lr"] == 2e-4  # both files
    assert cfg["model"]["path"] == "runs/warm/sft_model"


def test_a_used_run_dir_is_refused_until_resume_or_overwrite(in_tmp, capsys):
    args = ["train", *FAST, "run_dir=r"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "run_dir 'r' already holds a run" in err
    assert all(w in err for w in ("--resume", "run_dir=", "--overwrite"))
    (in_tmp / "r" / "notes.txt").write_text("mine")
    assert main([*args, "--overwrite"]) == 0
    assert (in_tmp / "r" / "notes.txt").read_text() == "mine"  # only focusrl's files go
    assert [row["step"] for row in read_metrics(in_tmp / "r" / "metrics.jsonl")] == [1, 2]
    # sft into a directory that holds an RL run is refused too
    assert main(["sft", *FAST, "run_dir=r"]) == 1
    assert "already holds a run" in capsys.readouterr().err


def test_default_run_dirs_are_new_per_run(in_tmp):
    a = load_config([ROOT / "examples" / "grpo_arithmetic.yaml",
                     ROOT / "examples" / "dapo.yaml"])
    Path(a.run_dir).mkdir(parents=True)
    b = load_config([ROOT / "examples" / "grpo_arithmetic.yaml",
                     ROOT / "examples" / "dapo.yaml"])
    assert a.run_dir.startswith("runs/grpo_arithmetic+dapo-") and b.run_dir != a.run_dir
    assert load_config(None).run_dir.startswith("runs/focusrl-")


def test_resume_says_where_from_and_takes_overrides_after_it(in_tmp, capsys):
    cfg = load_config(None, [*FAST, "run_dir=r"])
    train(cfg, stop_at=1)
    capsys.readouterr()
    assert main(["train", *FAST, "--resume", "run_dir=r"]) == 0
    out = capsys.readouterr().out
    assert "resuming r from r/checkpoints/step_000001 (step 1 of 2)" in out
    assert "trained steps 2-2 of 2" in out and "last step 2: reward" in out
    assert main(["train", "--resume", "run_dir=nowhere"]) == 1
    assert "holds no run" in capsys.readouterr().err


@pytest.mark.parametrize("override, message", [
    ("train.steps=0", "train.steps must be >= 1, got 0"),
    ("train.steps=-5", "train.steps must be >= 1, got -5"),
    ("sft.steps=0", "sft.steps must be >= 1, got 0"),
    ("train.micro_batch_samples=0", "train.micro_batch_samples must be >= 1"),
    ("train.passes_per_batch=0", "train.passes_per_batch must be >= 1"),
    ("rollout.prompts_per_step=0", "rollout.prompts_per_step must be >= 1"),
    ("train.keep_checkpoints=-1", "train.keep_checkpoints must be >= 0"),
    ("sft.batch_sequences=0", "sft.batch_sequences must be >= 1"),
    ("model.tiny.num_heads=3", "multiple of model.tiny.num_heads=3"),
    ("rollout.samples_per_prompt=1", "a group of one sample always gets advantage 0"),
    ("rewards.parts=[{kind: numeric, weight: 0}]", "every reward part has weight 0"),
])
def test_configs_that_cannot_run_or_learn_are_errors(in_tmp, capsys, override, message):
    assert main(["train", *FAST, override]) == 2
    assert message in capsys.readouterr().err
    assert not (in_tmp / "runs").exists()  # refused before anything was written


def test_data_without_answers_and_a_verifier_is_an_error(in_tmp, capsys):
    rows = [{"prompt": f"{i}+1=", "solution": str(i + 1)} for i in range(20)]
    (in_tmp / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["train", *FAST, "data.source=jsonl", "data.path=d.jsonl"]) == 2
    err = capsys.readouterr().err
    assert "have no answer" in err and "data.fields.answer" in err and "numeric" in err
    assert main(["train", *FAST, "data.source=jsonl", "data.path=d.jsonl",
                 "data.fields.answer=solution", "run_dir=ok"]) == 0


def test_dapo_dropping_every_group_still_evaluates_and_checkpoints(in_tmp, capsys):
    # an untrained model never reaches the reward: every group is all-zero and dropped
    assert main(["train", *FAST, str(ROOT / "examples" / "dapo.yaml"),
                 "algorithm.dynamic_sampling_max_rounds=1", "run_dir=d"]) == 0
    rows = read_metrics(in_tmp / "d" / "metrics.jsonl")
    assert [r.get("skipped_updates") for r in rows] == [1.0, 1.0]
    assert "eval/accuracy" in rows[-1]
    assert (in_tmp / "d" / "checkpoints" / "step_000002").is_dir()
    out = capsys.readouterr().out
    assert "held-out eval at step 2" in out and "checkpoint: d/checkpoints/step_000002" in out


def test_pruning_never_removes_the_newest_checkpoint(tmp_path):
    for step in (150, 200, 40, 50):  # an old run's 150 and 200, then this run's 40, 50
        (tmp_path / f"step_{step:06d}").mkdir()
    prune_checkpoints(tmp_path, 50, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "step_000040", "step_000050", "step_000150", "step_000200"]
    (tmp_path / "step_000030").mkdir()
    prune_checkpoints(tmp_path, 50, keep=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "step_000050", "step_000150", "step_000200"]


def test_missing_extra_names_it(in_tmp, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "math_verify", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "focusrl.rewards.math_answer", raising=False)
    assert main(["eval", *FAST, "rewards.parts=[{kind: math_verify}]"]) == 1
    assert "pip install 'focusrl[math]'" in capsys.readouterr().err


def test_missing_local_model_path_says_so(in_tmp, capsys):
    assert main(["train", *FAST, "model.path=runs/warm/sft_model"]) == 2
    err = capsys.readouterr().err
    assert "model.path 'runs/warm/sft_model' does not exist" in err and "unreachable" not in err


def test_unknown_option_and_two_configs_with_overrides_between(in_tmp, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    assert main(["train", str(ROOT / "examples" / "grpo_arithmetic.yaml"), *FAST,
                 str(ROOT / "examples" / "gspo.yaml"), "run_dir=g", "train.steps=1"]) == 0
    cfg = yaml.safe_load((in_tmp / "g" / "config.yaml").read_text())
    assert cfg["algorithm"]["loss"] == "gspo" and cfg["train"]["steps"] == 1


def test_quickstart_refuses_a_used_out_dir_before_any_work(in_tmp, capsys):
    assert main(["train", *FAST, "run_dir=q", "-v"]) == 0  # -v after the subcommand works
    capsys.readouterr()
    assert main(["quickstart", "--out", "q"]) == 1
    assert "run_dir 'q' already holds a run" in capsys.readouterr().err
