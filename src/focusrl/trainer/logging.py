"""metrics.jsonl (one line per step), the other loggers and the run doctor behind it, and a
progress bar with reward, accuracy, latest eval, time left and the doctor's alerts."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from focusrl.report.doctor import Doctor
from focusrl.report.loggers import Logger, build_loggers

log = logging.getLogger(__name__)


class MetricsWriter:
    """Appends one JSON object per line; on resume, drops lines past the checkpoint step
    and a torn last line (a crash mid-write), with a warning naming the file. Each record
    also goes to `loggers` (TensorBoard, W&B) and through the `doctor`, whose new findings
    are logged as warnings; `alerts` names the rules firing now."""

    def __init__(self, path: str | Path, resume_step: int | None = None,
                 loggers: Sequence[Logger] = (), doctor: Doctor | None = None):
        self.path = Path(path)
        self.loggers = list(loggers)
        self.doctor = doctor
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if resume_step is not None and self.path.exists():
                kept = [r for r in read_metrics(self.path) if r.get("step", 0) <= resume_step]
                _write_atomic(self.path, "".join(json.dumps(r) + "\n" for r in kept))
                if doctor is not None:
                    doctor.history.extend(kept)
            elif resume_step is None and self.path.exists():
                self.path.unlink()
        except OSError as e:
            raise _io_error(self.path, e) from e

    def write(self, record: dict[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                 for k, v in record.items()}
        try:
            with self.path.open("a") as f:
                f.write(json.dumps(clean) + "\n")
        except OSError as e:
            raise _io_error(self.path, e) from e
        for logger in self.loggers:
            logger.log(clean)
        if self.doctor is not None:
            for finding in self.doctor.check(clean):
                log.warning("%s", finding.message())

    @property
    def alerts(self) -> list[str]:
        return sorted(self.doctor.active) if self.doctor is not None else []

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()
        self.loggers = []


def open_metrics(cfg: Any, resume_step: int | None) -> MetricsWriter:
    """The run's MetricsWriter with the loggers of train.loggers and the doctor."""
    from focusrl.configtools import to_dict

    run_dir = Path(cfg.run_dir)
    loggers = build_loggers(cfg.train.loggers, run_dir, cfg.train.wandb_project, to_dict(cfg))
    doctor = Doctor(cfg.doctor) if cfg.doctor.enabled else None
    return MetricsWriter(run_dir / "metrics.jsonl", resume_step, loggers, doctor)


@contextmanager
def no_progress_bars() -> Iterator[None]:
    """Silence transformers' (and huggingface_hub's) progress bars inside the block, e.g.
    the per-file "Writing model shards" bar of save_pretrained; restores them after."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def _io_error(path: Path, e: OSError) -> OSError:
    from focusrl.trainer.checkpoint import io_cause

    return OSError(e.errno, f"could not write metrics to {path}: {io_cause(e)} ({e})")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl. A torn last line (a write cut off by a crash or a
    full disk) is skipped with a warning; a bad line elsewhere is an error naming the file
    and line."""
    path = Path(path)
    lines = path.read_text(errors="replace").splitlines()
    rows = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i == len(lines):
                log.warning("%s:%d: dropped a torn last line (%s; %d characters), left by an "
                            "interrupted write", path, i, e.msg, len(line))
                continue
            raise ValueError(f"{path}:{i}: not valid JSON ({e.msg} at column {e.colno}); "
                             "every line of a metrics file is one JSON object.") from None
    return rows


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    """tqdm bar on stderr (silent when disabled or not installed): reward, training
    accuracy, the latest held-out eval, time left (from this process's mean step time)
    and the doctor's alerts."""

    def __init__(self, total: int, initial: int = 0, desc: str = "rl", enabled: bool = True):
        self.bar = None
        self.total, self.done, self.t0 = total, initial, time.perf_counter()
        self.initial = initial
        self.eval: float | None = None
        if enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, initial=initial, desc=desc, file=sys.stderr,
                                dynamic_ncols=True, leave=False,
                                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt}{postfix}")
            except ImportError:
                self.bar = None

    def postfix(self, record: dict[str, Any], alerts: Sequence[str] = ()) -> dict[str, str]:
        """The fields shown after the bar (also used by tests)."""
        self.done += 1
        if isinstance(record.get("eval/accuracy"), (int, float)):
            self.eval = float(record["eval/accuracy"])
        out: dict[str, str] = {}
        for key, name in (("reward_mean", "reward"), ("accuracy", "acc"), ("sft_loss", "loss")):
            if isinstance(record.get(key), (int, float)):
                out[name] = f"{record[key]:.3f}"
        if self.eval is not None:
            out["eval"] = f"{self.eval:.3f}"
        per_step = (time.perf_counter() - self.t0) / max(self.done - self.initial, 1)
        out["left"] = format_seconds(per_step * max(self.total - self.done, 0))
        if alerts:
            out["doctor"] = ",".join(alerts)
        return out

    def update(self, record: dict[str, Any] | None = None, alerts: Sequence[str] = ()) -> None:
        fields = self.postfix(record or {}, alerts)
        if self.bar is not None:
            self.bar.set_postfix(fields, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
