"""What `--resume` checks and changes: the requested config against the run's saved one.

A resume continues the run that `<run_dir>/config.yaml` describes. The requested config
(the config file and overrides given with `--resume`) is compared key by key with it:

- keys in `MUTABLE` (step count, learning-rate schedule, eval and checkpoint cadence, ...)
  may change, but only with `allow_changes` (`--allow-config-change`); they are then
  applied, and recorded in `config.yaml` (rewritten) and `config_history.yaml` (appended:
  step, time and every old -> new value);
- keys in `RUNTIME` do not change the training math (progress bar, threads, device
  placement); a change is applied and recorded without the flag;
- every other key (model shape and path, seed, data, group size, algorithm, rewards,
  ...) is fixed for the life of a run: a change is an error that lists it.

How a changed schedule is applied: the learning-rate schedule is rebuilt from the new
optim.* and train.steps values as if the run had been configured with them from the
start, and continues at the optimizer step the checkpoint reached (so a longer run moves
the cosine horizon, and the rate at the resume step can jump; the record in
`config_history.yaml` shows the rate before and after).
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from focusrl.config import Config
from focusrl.configtools import ConfigError, to_dict
from focusrl.trainer.checkpoint import io_cause

log = logging.getLogger(__name__)

MUTABLE = {
    "train.steps": "the run's length (the lr schedule is rebuilt for it)",
    "train.eval_every": "eval cadence",
    "train.eval_samples_per_prompt": "eval pass@k samples",
    "train.eval_temperature": "eval temperature",
    "train.checkpoint_every": "checkpoint cadence",
    "train.keep_checkpoints": "checkpoints kept",
    "train.micro_batch_samples": "memory/speed only (same gradients up to rounding)",
    "rollout.batch_samples": "generation chunking",
    "optim.lr": "peak learning rate",
    "optim.warmup_steps": "lr warm-up",
    "optim.schedule": "lr decay",
    "optim.min_lr_ratio": "lr floor",
    "optim.weight_decay": "AdamW weight decay",
    "optim.grad_clip": "gradient clipping",
}
"""Keys that may change on resume with --allow-config-change, and what they control."""

RUNTIME = {"train.progress", "threads", "cpu_malloc", "model.device"}
"""Keys that do not change what is computed; a change is applied and recorded freely."""

IGNORED = {"run_dir"}
"""Not compared: the run directory is the run being resumed (it may have been moved)."""


@dataclass
class ConfigDrift:
    """Differences between the run's saved config and the requested one."""

    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    """key -> (saved value, requested value), for every key that differs."""

    @property
    def optim_changed(self) -> bool:
        return any(k.startswith("optim.") or k == "train.steps" for k in self.changes)


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
        except (TypeError, ValueError):
            return False
    return a == b


def _saved_config(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "config.yaml"
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"--resume: the run's config {path} is unreadable ({e}); restore "
                          "it, or start a new run without --resume.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--resume: the run's config {path} holds no mapping; restore it.")
    return data


def check_config_drift(cfg: Config, allow_changes: bool = False) -> ConfigDrift:
    """Compare `cfg` with `<cfg.run_dir>/config.yaml`; raise ConfigError listing the
    differences that are not allowed. Call before building anything."""
    run_dir = Path(cfg.run_dir)
    saved_tree = _saved_config(run_dir)
    if saved_tree is None:
        log.warning("--resume: %s is missing, so the requested config cannot be checked "
                    "against the run's; it is taken as is and saved", run_dir / "config.yaml")
        return ConfigDrift()
    saved, wanted = _flatten(saved_tree), _flatten(to_dict(cfg))
    defaults = _flatten(to_dict(Config()))
    drift = ConfigDrift()
    for key, new in wanted.items():
        if key in IGNORED:
            continue
        old = saved.get(key, defaults.get(key))  # a key added since the run began: default
        if not _same(old, new):
            drift.changes[key] = (old, new)
    for key in sorted(set(saved) - set(wanted)):
        log.warning("--resume: %s has '%s', which is no longer a config key; ignored",
                    run_dir / "config.yaml", key)
    fixed = {k: v for k, v in drift.changes.items() if k not in MUTABLE and k not in RUNTIME}
    flagged = {k: v for k, v in drift.changes.items() if k in MUTABLE}
    if fixed:
        raise ConfigError(
            f"--resume: the requested config differs from the run's ({run_dir / 'config.yaml'}) "
            f"in keys that cannot change mid-run:\n{_listing(fixed)}\nResume with the run's "
            f"values, or start a new run (a new run_dir) for the new ones."
            + (f"\nAlso changed (allowed with --allow-config-change):\n{_listing(flagged)}"
               if flagged else ""))
    if flagged and not allow_changes:
        raise ConfigError(
            f"--resume: the requested config differs from the run's "
            f"({run_dir / 'config.yaml'}):\n{_listing(flagged)}\nThese keys may change "
            "mid-run: pass --allow-config-change to apply them (they are recorded in "
            "config_history.yaml), or resume with the run's values.")
    for key, (old, new) in drift.changes.items():
        log.warning("--resume: %s changes from %r to %r", key, old, new)
    return drift


def _listing(changes: dict[str, tuple[Any, Any]]) -> str:
    return "\n".join(f"  {k}: {old!r} -> {new!r}" for k, (old, new) in sorted(changes.items()))


def apply_lr_schedule(cfg: Config, optimizer: Any, scheduler: Any) -> tuple[float, float]:
    """After a restore: make the optimizer and scheduler follow cfg.optim (peak lr, weight
    decay) and the schedule built from cfg, at the restored step. Returns (lr before,
    lr after)."""
    before = optimizer.param_groups[0]["lr"]
    scheduler.base_lrs = [cfg.optim.lr for _ in optimizer.param_groups]
    for group, fn in zip(optimizer.param_groups, scheduler.lr_lambdas):
        group["initial_lr"] = cfg.optim.lr
        group["weight_decay"] = cfg.optim.weight_decay
        group["lr"] = cfg.optim.lr * fn(scheduler.last_epoch)
    scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]
    return before, optimizer.param_groups[0]["lr"]


def record_config_change(cfg: Config, drift: ConfigDrift, step: int,
                         lr: tuple[float, float] | None = None) -> None:
    """Rewrite config.yaml with the applied config; append the change to
    config_history.yaml."""
    run_dir = Path(cfg.run_dir)
    entry: dict[str, Any] = {
        "resumed_at_step": step,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "changes": {k: {"old": old, "new": new} for k, (old, new) in drift.changes.items()},
    }
    if lr is not None:
        entry["lr_at_resume"] = {"old": lr[0], "new": lr[1]}
    history = run_dir / "config_history.yaml"
    try:
        with history.open("a") as f:
            f.write(yaml.safe_dump([entry], sort_keys=False))
    except OSError as e:
        raise OSError(e.errno, f"could not write {history}: {io_cause(e)} ({e})") from e
    write_config(run_dir, cfg)


def write_config(run_dir: Path, cfg: Config) -> None:
    """Atomically write <run_dir>/config.yaml; an I/O error names the path and cause."""
    path = run_dir / "config.yaml"
    tmp = run_dir / ".config.yaml.tmp"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OSError(e.errno, f"could not write {path}: {io_cause(e)} ({e})") from e
