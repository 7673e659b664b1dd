"""metrics.jsonl (one line per step) and a progress bar with reward, accuracy, time left."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class MetricsWriter:
    """Appends one JSON object per line; on resume, drops lines past the checkpoint step
    and a torn last line (a crash mid-write), with a warning naming the file."""

    def __init__(self, path: str | Path, resume_step: int | None = None):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if resume_step is not None and self.path.exists():
                kept = [r for r in read_metrics(self.path) if r.get("step", 0) <= resume_step]
                _write_atomic(self.path, "".join(json.dumps(r) + "\n" for r in kept))
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


class Progress:
    """tqdm bar on stderr (silent when disabled or not installed)."""

    def __init__(self, total: int, initial: int = 0, desc: str = "rl", enabled: bool = True):
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, initial=initial, desc=desc, file=sys.stderr,
                                dynamic_ncols=True, leave=False)
            except ImportError:
                self.bar = None

    def update(self, **postfix: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in postfix.items()}, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
