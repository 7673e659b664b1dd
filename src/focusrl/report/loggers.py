"""Where metrics go besides metrics.jsonl: TensorBoard and Weights & Biases.

`train.loggers` names them; every logger receives the same record (the metrics.jsonl
line) with the same metric names (`reward/numeric`, `eval/accuracy`, ...), keyed by
`step`. metrics.jsonl itself is always written: resume, the report and the doctor read it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

from focusrl.configtools import ConfigError

LOGGER_NAMES = ("jsonl", "tensorboard", "wandb")


class Logger(Protocol):
    def log(self, record: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def _scalars(record: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in record.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v)}


def _missing_extra(name: str, module: str, err: ImportError) -> ConfigError:
    return ConfigError(
        f"train.loggers includes '{name}', but the '{module}' package is not installed "
        f"({err}). Install the extra: pip install 'focusrl[{name}]', or remove '{name}' from "
        "train.loggers.")


class TensorBoardLogger:
    """Scalars in <run_dir>/tensorboard (`tensorboard --logdir RUN_DIR/tensorboard`)."""

    def __init__(self, run_dir: str | Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise _missing_extra("tensorboard", "tensorboard", e) from e
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))

    def log(self, record: dict[str, Any]) -> None:
        step = int(record.get("step", 0))
        for key, val in _scalars(record).items():
            self.writer.add_scalar(key, val, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbLogger:
    """A W&B run in <run_dir>/wandb. With no network, set WANDB_MODE=offline and upload
    later with `wandb sync`; the resolved config is the run's config. A `--resume`d run
    starts a new W&B run that continues at the checkpoint's step."""

    def __init__(self, run_dir: str | Path, project: str, config: dict[str, Any]):
        try:
            import wandb
        except ImportError as e:
            raise _missing_extra("wandb", "wandb", e) from e
        self.wandb = wandb
        self.run = wandb.init(project=project, dir=str(run_dir), config=config,
                              name=Path(run_dir).name)

    def log(self, record: dict[str, Any]) -> None:
        self.run.log(_scalars(record), step=int(record.get("step", 0)))

    def close(self) -> None:
        self.run.finish()


def validate_loggers(names: list[str]) -> None:
    unknown = [n for n in names if n not in LOGGER_NAMES]
    if unknown:
        raise ConfigError(f"train.loggers: unknown logger(s) {unknown}; choose from "
                          f"{list(LOGGER_NAMES)}, e.g. train.loggers=[jsonl,tensorboard].")
    if "jsonl" not in names:
        raise ConfigError("train.loggers must include jsonl: metrics.jsonl is what --resume, "
                          f"`focusrl report` and the run doctor read. Got {names}.")


def build_loggers(names: list[str], run_dir: str | Path, wandb_project: str,
                  config: dict[str, Any]) -> list[Logger]:
    """The loggers besides metrics.jsonl (which MetricsWriter writes itself)."""
    validate_loggers(names)
    out: list[Logger] = []
    for name in dict.fromkeys(names):
        if name == "tensorboard":
            out.append(TensorBoardLogger(run_dir))
        elif name == "wandb":
            out.append(WandbLogger(run_dir, wandb_project, config))
    return out
