"""Prompt sources: generated tasks and file datasets, behind one function.

`load_task_data(cfg)` returns a `TaskData` with disjoint train and held-out prompts.
Loaders read jsonl, parquet and Hugging Face datasets saved with `save_to_disk`, with a
field mapping (id, prompt, answer). Bad files raise `DataError` naming file and line.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from focusrl.configtools import ConfigError, _suggest
from focusrl.data.config import DataConfig, FieldMap
from focusrl.data.tasks import GENERATORS, split_generated
from focusrl.types import Prompt


class DataError(ValueError):
    """A dataset file is missing or malformed; the message names the file and line."""


@dataclass
class TaskData:
    train: list[Prompt]
    eval: list[Prompt]


def _row_to_prompt(row: Any, fields: FieldMap, where: str, index: int) -> Prompt:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected an object with fields, got {type(row).__name__}.")
    if fields.prompt not in row:
        raise DataError(f"{where}: no field '{fields.prompt}' (fields: {sorted(row)}); "
                        f"set data.fields.prompt to the field that holds the prompt.")
    meta = {k: v for k, v in row.items() if k not in (fields.prompt, fields.answer)}
    return Prompt(
        id=str(row.get(fields.id, index)),
        text=str(row[fields.prompt]),
        answer=row.get(fields.answer),
        meta=meta,
    )


def read_jsonl(path: str | Path, fields: FieldMap) -> list[Prompt]:
    """One JSON object per line; blank lines are skipped; errors name file and line."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"dataset file '{path}' does not exist; check data.path.")
    out = []
    opener = __import__("gzip").open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: not valid JSON ({e.msg} at column "
                                f"{e.colno}); each line must be one JSON object.") from None
            out.append(_row_to_prompt(row, fields, f"{path}:{lineno}", lineno - 1))
    if not out:
        raise DataError(f"dataset file '{path}' has no rows.")
    return out


def read_parquet(path: str | Path, fields: FieldMap) -> list[Prompt]:
    path = Path(path)
    if not path.exists():
        raise DataError(f"dataset file '{path}' does not exist; check data.path.")
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("reading parquet needs pyarrow: pip install 'focusrl[data]'.") from None
    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types
        raise DataError(f"{path}: not a readable parquet file ({e}).") from None
    return [_row_to_prompt(r, fields, f"{path}: row {i}", i) for i, r in enumerate(rows)]


def read_hf_disk(path: str | Path, fields: FieldMap, split: str = "train") -> list[Prompt]:
    """A Dataset or DatasetDict written by `datasets`' save_to_disk."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"dataset directory '{path}' does not exist; check data.path.")
    try:
        from datasets import DatasetDict, load_from_disk
    except ImportError:
        raise DataError("reading HF datasets needs `datasets`: pip install 'focusrl[data]'.") from None
    try:
        ds = load_from_disk(str(path))
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{path}: not a dataset saved with save_to_disk ({e}).") from None
    if isinstance(ds, DatasetDict):
        if split not in ds:
            raise DataError(f"{path}: no split '{split}' (splits: {list(ds)}); set data.hf_split.")
        ds = ds[split]
    return [_row_to_prompt(r, fields, f"{path}: row {i}", i) for i, r in enumerate(ds)]


def read_file(path: str, fields: FieldMap, split: str = "train") -> list[Prompt]:
    p = Path(path)
    if p.is_dir():
        return read_hf_disk(p, fields, split)
    if p.suffix == ".parquet":
        return read_parquet(p, fields)
    return read_jsonl(p, fields)


def _file_source(cfg: DataConfig) -> TaskData:
    if not cfg.path:
        raise ConfigError(f"data.source '{cfg.source}' needs data.path (a file or directory).")
    rows = read_file(cfg.path, cfg.fields, cfg.hf_split)
    if cfg.eval_path:
        held = read_file(cfg.eval_path, cfg.fields, cfg.hf_split)
        train = rows
    else:
        rng = random.Random(cfg.seed)
        order = list(range(len(rows)))
        rng.shuffle(order)
        n_eval = min(cfg.num_eval, len(rows) // 2)
        held = [rows[i] for i in order[:n_eval]]
        train = [rows[i] for i in order[n_eval:]]
    if cfg.num_train:
        train = train[: cfg.num_train]
    return TaskData(train, held)


def _generated_source(cfg: DataConfig) -> TaskData:
    gen = GENERATORS[cfg.source]
    options = getattr(cfg, cfg.source)
    train, held = split_generated(gen(options, random.Random(cfg.seed)), cfg.num_train, cfg.num_eval)
    return TaskData(train, held)


SOURCES: dict[str, Callable[[DataConfig], TaskData]] = {
    "arithmetic": _generated_source,
    "countdown": _generated_source,
    "jsonl": _file_source,
    "parquet": _file_source,
    "hf_disk": _file_source,
}


def load_task_data(cfg: DataConfig) -> TaskData:
    """Train and held-out prompts for `cfg.source` (templates are applied later)."""
    if cfg.source not in SOURCES:
        raise ConfigError(f"data.source: unknown source '{cfg.source}'.{_suggest(cfg.source, list(SOURCES))}")
    data = SOURCES[cfg.source](cfg)
    if not data.train:
        raise DataError(f"data.source '{cfg.source}' produced no training prompts.")
    return data
