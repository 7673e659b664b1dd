"""Loggers: W&B offline (no network), a clear error when an extra is missing, and the
progress line's fields. (~8 s, most of it wandb's start-up)"""

from __future__ import annotations

import sys
import time

import pytest

from focusrl.config import load_config
from focusrl.configtools import ConfigError
from focusrl.report.loggers import build_loggers
from focusrl.trainer.logging import Progress


def test_wandb_offline_logs_the_same_metric_names(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="pip install 'focusrl[wandb]'")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    [logger] = build_loggers(["jsonl", "wandb"], tmp_path, "focusrl-test", {"seed": 3})
    logger.log({"step": 1, "reward_mean": 0.25, "eval/accuracy": 0.125, "note": "text"})
    logger.log({"step": 2, "reward_mean": 0.5})
    logger.close()
    # run.finish() returns once W&B's service has the rows; the service writes the record
    # file on its own schedule (CI once read a header-only file on a loaded machine).
    # teardown() is what W&B's atexit hook does: it waits for the service to finish.
    sys.modules["wandb"].teardown()
    [record] = list(tmp_path.glob("wandb/offline-run-*/run-*.wandb"))
    deadline = time.monotonic() + 60
    while b"eval/accuracy" not in (data := record.read_bytes()) and time.monotonic() < deadline:
        time.sleep(0.5)  # W&B's record file: protobuf history rows, keys as text
    for name in (b"reward_mean", b"eval/accuracy", b"0.125", b"0.5"):
        assert name in data
    assert b"note" not in data  # only numbers are logged


@pytest.mark.parametrize("name", ["tensorboard", "wandb"])
def test_missing_extra_is_a_clear_error(tmp_path, monkeypatch, name):
    blocked = {"tensorboard": "torch.utils.tensorboard", "wandb": "wandb"}[name]
    monkeypatch.setitem(sys.modules, blocked, None)  # import now raises ImportError
    with pytest.raises(ConfigError, match=rf"pip install 'focusrl\[{name}\]'"):
        build_loggers(["jsonl", name], tmp_path, "p", {})


def test_loggers_config_is_validated():
    with pytest.raises(ConfigError, match="unknown logger.*'tb'.*tensorboard"):
        load_config(None, ["train.loggers=[jsonl,tb]"])
    with pytest.raises(ConfigError, match="must include jsonl"):
        load_config(None, ["train.loggers=[wandb]"])


def test_progress_line_shows_reward_accuracy_latest_eval_time_left_and_alerts():
    p = Progress(total=10, enabled=False)
    first = p.postfix({"reward_mean": 0.5, "accuracy": 0.25, "eval/accuracy": 0.125})
    assert first["reward"] == "0.500" and first["acc"] == "0.250" and first["eval"] == "0.125"
    assert first["left"].endswith("s")
    later = p.postfix({"reward_mean": 0.75, "accuracy": 0.5}, ["high_truncation"])
    assert later["eval"] == "0.125"  # the latest evaluation stays on the line
    assert later["doctor"] == "high_truncation"
