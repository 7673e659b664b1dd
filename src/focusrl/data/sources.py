"""Prompt sources: generated tasks and file datasets, behind one function.

`load_task_data(cfg)` returns a `TaskData` with disjoint train and held-out prompts.
Loaders read jsonl, parquet and Hugging Face datasets saved with `save_to_disk`, with a
field mapping (id, prompt, answer). Bad files raise `DataError` naming file and line.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from focusrl.configtools import ConfigError, _suggest
from focusrl.data.benchmarks import BENCHMARK_SOURCES
from focusrl.data.config import DataConfig
from focusrl.data.readers import (  # noqa: F401 - re-exported, public names
    DataError,
    TaskData,
    iter_jsonl_rows,
    read_file,
    read_hf_disk,
    read_jsonl,
    read_parquet,
    read_rows,
)
from focusrl.data.tasks import GENERATORS, split_generated


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
    instances = gen(options, random.Random(cfg.seed))
    train, held = split_generated(instances, cfg.num_train, cfg.num_eval)
    return TaskData(train, held)


SOURCES: dict[str, Callable[[DataConfig], TaskData]] = {
    "arithmetic": _generated_source,
    "countdown": _generated_source,
    "sat": _generated_source,
    "jsonl": _file_source,
    "parquet": _file_source,
    "hf_disk": _file_source,
    **BENCHMARK_SOURCES,
}


def load_task_data(cfg: DataConfig) -> TaskData:
    """Train and held-out prompts for `cfg.source` (templates are applied later)."""
    if cfg.source not in SOURCES:
        raise ConfigError(f"data.source: unknown source '{cfg.source}'."
                          f"{_suggest(cfg.source, list(SOURCES))}")
    data = SOURCES[cfg.source](cfg)
    if not data.train:
        raise DataError(f"data.source '{cfg.source}' produced no training prompts.")
    return data
