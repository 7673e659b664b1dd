"""Runs that meet damage: each test copies one short real run (tiny model, stopped at step
3 of 4 with checkpoints at steps 2 and 3), damages the copy as issue 14 describes, and
checks what a resume does and says."""

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import yaml

from focusrl.cli import main as cli_main
from focusrl.config import ConfigError, load_config
from focusrl.trainer.checkpoint import CheckpointError, CheckpointWriteError, io_cause
from focusrl.trainer.logging import read_metrics
from focusrl.trainer.optim import lr_lambda
from focusrl.trainer.rl import train

RUN = ["train.steps=4", "train.checkpoint_every=1", "train.eval_every=0",
       "train.keep_checkpoints=2"]


def _comparable(rows):
    return [{k: v for k, v in r.items() if not k.startswith("time_")} for r in rows]


@pytest.fixture(scope="module")
def base(tmp_path_factory, tiny_overrides):
    """(run dir stopped after step 3, metrics of its undamaged resume to step 4)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("damage")
    train(load_config(None, [*tiny_overrides, *RUN, f"run_dir={root / 'base'}"]), stop_at=3)
    shutil.copytree(root / "base", root / "ref")
    train(load_config(None, [*tiny_overrides, *RUN, f"run_dir={root / 'ref'}"]), resume=True)
    return root / "base", read_metrics(root / "ref" / "metrics.jsonl")


@pytest.fixture
def run(base, tmp_path, tiny_overrides):
    """A fresh copy of the base run; returns (its dir, a config maker for it)."""
    path = tmp_path / "run"
    shutil.copytree(base[0], path)

    def cfg(*overrides):
        return load_config(None, [*tiny_overrides, *RUN, f"run_dir={path}", *overrides])

    return path, cfg


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path: Path) -> None:  # same size, so only the content check can see it
    path.write_bytes(os.urandom(path.stat().st_size))


DAMAGE = {
    "truncated model": ("model/model.safetensors", _truncate),
    "garbage model": ("model/model.safetensors", _garbage),
    "truncated optimizer": ("optimizer.pt", _truncate),
    "truncated trainer state": ("trainer_state.pt", _truncate),
    "deleted optimizer": ("optimizer.pt", Path.unlink),
}


# without a manifest (checkpoints written before it), the reads themselves must catch it;
# same-size garbage is only visible to the manifest's hash
CASES = [(c, True) for c in DAMAGE] + [(c, False) for c in DAMAGE if c != "garbage model"]


@pytest.mark.parametrize("case,manifest", CASES,
                         ids=[f"{c}-{'manifest' if m else 'no manifest'}" for c, m in CASES])
def test_damaged_newest_checkpoint_falls_back_to_the_previous(base, run, caplog, case, manifest):
    path, cfg = run
    newest = path / "checkpoints" / "step_000003"
    if not manifest:
        (newest / "manifest.json").unlink()
    rel, damage = DAMAGE[case]
    damage(newest / rel)
    train(cfg(), resume=True)
    warned = caplog.text
    assert str(newest) in warned and "damaged" in warned
    assert "step_000002" in warned  # the checkpoint used instead is named
    assert (path / "checkpoints" / "damaged_step_000003").is_dir()
    # steps 3 and 4 are re-run from step 2 exactly
    assert _comparable(read_metrics(path / "metrics.jsonl")) == _comparable(base[1])


def test_no_usable_checkpoint_is_one_clear_error(run):
    path, cfg = run
    _truncate(path / "checkpoints" / "step_000003" / "optimizer.pt")
    (path / "checkpoints" / "step_000002" / "model" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError) as err:
        train(cfg(), resume=True)
    msg = str(err.value)
    assert "no usable checkpoint" in msg
    assert "step_000003/optimizer.pt has" in msg and "truncated" in msg
    assert "step_000002/model/model.safetensors is missing" in msg
    assert (path / "checkpoints" / "step_000003").is_dir()  # nothing renamed on failure


@pytest.mark.parametrize("pointer", ["", "step_\x00garbage\n", "step_000009"])
def test_bad_latest_pointer_is_reported_and_the_newest_checkpoint_used(base, run, caplog,
                                                                      pointer):
    path, cfg = run
    (path / "checkpoints" / "latest").write_text(pointer)
    train(cfg(), resume=True)
    latest = str(path / "checkpoints" / "latest")
    assert latest + (" is empty" if not pointer else " names '") in caplog.text
    assert "step_000003, step_000002" in caplog.text
    assert _comparable(read_metrics(path / "metrics.jsonl")) == _comparable(base[1])


def test_torn_metrics_line_is_dropped_with_a_warning(base, run, caplog):
    path, cfg = run
    metrics = path / "metrics.jsonl"
    with metrics.open("a") as f:  # a crash while writing step 4's line
        f.write('{"step": 4, "reward_mean": 0.25, "accura')
    train(cfg(), resume=True)
    assert f"{metrics}:4: dropped a torn last line" in caplog.text
    assert _comparable(read_metrics(metrics)) == _comparable(base[1])


def test_resume_refuses_changes_to_keys_fixed_for_the_run(run):
    path, cfg = run
    with pytest.raises(ConfigError) as err:
        train(cfg("model.tiny.hidden_size=64", "rollout.samples_per_prompt=2", "seed=5",
                  "optim.lr=5e-4"), resume=True, allow_config_change=True)
    msg = str(err.value)
    assert "cannot change mid-run" in msg
    for line in ("model.tiny.hidden_size: 32 -> 64", "rollout.samples_per_prompt: 4 -> 2",
                 "seed: 0 -> 5", "optim.lr: 0.001 -> 0.0005"):
        assert line in msg
    assert not (path / "config_history.yaml").exists()


def test_resume_with_a_changed_lr_needs_the_flag(run):
    path, cfg = run
    with pytest.raises(ConfigError, match="--allow-config-change") as err:
        train(cfg("optim.lr=5e-4", "train.steps=6"), resume=True)
    assert "optim.lr: 0.001 -> 0.0005" in str(err.value)
    assert "train.steps: 4 -> 6" in str(err.value)
    assert yaml.safe_load((path / "config.yaml").read_text())["optim"]["lr"] == 1e-3


def test_allowed_changes_are_applied_and_recorded(run):
    path, cfg = run
    train(cfg("optim.lr=5e-4", "train.steps=5"), resume=True, allow_config_change=True)
    rows = read_metrics(path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    schedule = lr_lambda(0, 5, "cosine", 0.1)  # the schedule of the new config
    for r in rows[3:]:  # lr after step s's update is the rate of optimizer step s
        assert r["lr"] == pytest.approx(5e-4 * schedule(r["step"]), rel=1e-9)
    saved = yaml.safe_load((path / "config.yaml").read_text())
    assert saved["optim"]["lr"] == 5e-4 and saved["train"]["steps"] == 5
    [entry] = yaml.safe_load((path / "config_history.yaml").read_text())
    assert entry["resumed_at_step"] == 3
    assert entry["changes"] == {"train.steps": {"old": 4, "new": 5},
                                "optim.lr": {"old": 1e-3, "new": 5e-4}}
    old_lr = 1e-3 * lr_lambda(0, 4, "cosine", 0.1)(3)
    assert entry["lr_at_resume"]["old"] == pytest.approx(old_lr)
    assert entry["lr_at_resume"]["new"] == pytest.approx(5e-4 * schedule(3))


def test_cli_resume_lists_the_change_and_applies_it_with_the_flag(run, tiny_overrides, capsys):
    path, _ = run
    args = ["train", *tiny_overrides, *RUN, f"run_dir={path}", "train.eval_every=2"]
    assert cli_main([*args, "--resume"]) == 2
    assert "train.eval_every: 0 -> 2" in capsys.readouterr().err
    assert cli_main([*args, "--resume", "--allow-config-change"]) == 0
    assert [r["step"] for r in read_metrics(path / "metrics.jsonl")] == [1, 2, 3, 4]
    assert yaml.safe_load((path / "config.yaml").read_text())["train"]["eval_every"] == 2


@pytest.fixture
def small_disk(tmp_path):
    """A real 4 MiB tmpfs (needs root, as in CI)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); needs root")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=True)


def _fill(disk: Path, leave: int) -> Path:
    """Fill `disk` so that about `leave` bytes stay free."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free
    with filler.open("wb") as f:
        f.truncate(0)
        f.write(b"\0" * max(free - leave, 0))
    return filler


def test_disk_full_names_the_path_and_keeps_the_run_consistent(base, small_disk, tiny_overrides):
    path = small_disk / "run"
    shutil.copytree(base[0], path)
    cfg = load_config(None, [*tiny_overrides, *RUN, f"run_dir={path}"])
    metrics = path / "metrics.jsonl"
    before = metrics.read_text()

    filler = _fill(small_disk, 0)  # metrics rewrite on resume fails
    with pytest.raises(OSError, match="no space left on device") as err:
        train(cfg, resume=True)
    assert f"could not write metrics to {metrics}" in str(err.value)
    assert metrics.read_text() == before
    filler.unlink()

    filler = _fill(small_disk, 48 * 1024)  # step 4 is logged, its checkpoint does not fit
    with pytest.raises(CheckpointWriteError) as err:
        train(cfg, resume=True)
    msg = str(err.value)
    assert f"could not write checkpoint {path / 'checkpoints' / 'step_000004'}" in msg
    ckpts = path / "checkpoints"
    assert "no space left on device" in msg and f"is {ckpts / 'step_000003'}." in msg
    assert (ckpts / "latest").read_text() == "step_000003"
    assert sorted(p.name for p in ckpts.iterdir()) == ["latest", "step_000002", "step_000003"]
    filler.unlink()

    train(cfg, resume=True)  # with space again, the run completes as if nothing happened
    assert _comparable(read_metrics(metrics)) == _comparable(base[1])


def test_disk_full_on_a_new_run_names_the_config_file(small_disk, tiny_overrides):
    filler = _fill(small_disk, 0)
    cfg = load_config(None, [*tiny_overrides, *RUN, f"run_dir={small_disk / 'new'}"])
    with pytest.raises(OSError, match="no space left on device") as err:
        train(cfg)
    assert f"could not write {small_disk / 'new' / 'config.yaml'}" in str(err.value)
    filler.unlink()


def test_io_cause_names_permission_and_space():
    assert io_cause(OSError(errno.EACCES, "Permission denied")) == "permission denied"
    assert io_cause(OSError(errno.ENOSPC, "x")) == "no space left on device"
    assert io_cause(RuntimeError("I/O error: No space left on device (os error 28)")) == (
        "no space left on device")


def _write_jsonl(path: Path, rows: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(rows) + b"\n")
    return path


GOOD = [json.dumps({"prompt": f"{i}+1=", "answer": str(i + 1)}).encode() for i in range(8)]
BAD_DATA = {
    "non-utf8": (b'{"prompt": "caf\xff", "answer": "1"}', "not valid UTF-8 (byte 0xff"),
    "bad json": (b'{"prompt": "1+1=", "answer": ', "not valid JSON"),
    "null prompt": (b'{"prompt": null, "answer": "2"}', "field 'prompt' (the prompt) must be "
                    "text, got null"),
    "list prompt": (b'{"prompt": [1, 2], "answer": "2"}', "field 'prompt' (the prompt) must "
                    "be text, got list [1, 2]"),
    "number prompt": (b'{"prompt": 12, "answer": "2"}', "must be text, got int 12"),
    "dict answer": (b'{"prompt": "1+1=", "answer": {"a": 2}}', "field 'answer' (the answer) "
                    "must be text or a number, got dict"),
    "null answer": (b'{"prompt": "1+1=", "answer": null}', "field 'answer' (the answer) must "
                    "be text or a number, got null"),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_names_file_line_and_field(tmp_path, tiny_overrides, case):
    line, expected = BAD_DATA[case]
    data = _write_jsonl(tmp_path / "train.jsonl", [*GOOD[:3], line, *GOOD[3:]])
    cfg = load_config(None, [*tiny_overrides, *RUN, f"run_dir={tmp_path / 'run'}",
                             "data.source=jsonl", f"data.path={data}", "data.num_eval=2"])
    with pytest.raises(ValueError) as err:
        train(cfg)
    assert f"{data}:4: " in str(err.value)
    assert expected in str(err.value)
