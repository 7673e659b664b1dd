"""File readers: jsonl (optionally gzipped), parquet, and `save_to_disk` datasets.

Each reader yields raw rows with where they came from ('file:line' or 'file: row i'),
so every error names the file and line; `read_file` maps rows to `Prompt`s with a
field map. Benchmark loaders (focusrl.data.benchmarks) read the raw rows.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from focusrl.data.config import FieldMap
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
    text = row[fields.prompt]
    if not isinstance(text, str):
        raise DataError(f"{where}: field '{fields.prompt}' (the prompt) must be text, got "
                        f"{_describe(text)}; fix the row or set data.fields.prompt.")
    answer = row.get(fields.answer)
    if fields.answer in row and not _is_answer(answer):
        raise DataError(f"{where}: field '{fields.answer}' (the answer) must be text or a "
                        f"number, got {_describe(answer)}; fix the row, drop the field, or set "
                        "data.fields.answer.")
    meta = {k: v for k, v in row.items() if k not in (fields.prompt, fields.answer)}
    return Prompt(id=str(row.get(fields.id, index)), text=text, answer=answer, meta=meta)


def _is_answer(value: Any) -> bool:
    """Text or a finite number. Structured answers (countdown targets, SAT clauses, code
    tests) come from the generators and benchmark loaders, not from generic files."""
    if isinstance(value, str):
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    shown = repr(value)
    return f"{type(value).__name__} {shown[:60]}{'...' if len(shown) > 60 else ''}"


def iter_jsonl_rows(path: str | Path) -> Iterator[tuple[str, Any]]:
    """(where, row) for each non-blank line, `where` = 'file:line'; `.gz` is read
    transparently. Invalid JSON or UTF-8 raises DataError naming file and line."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"dataset file '{path}' does not exist; check data.path.")
    opener = gzip.open if path.suffix == ".gz" else open
    lineno = 0
    try:
        with opener(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise DataError(
                        f"{path}:{lineno}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at "
                        f"column {e.start + 1}); save the file as UTF-8.") from None
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{lineno}: not valid JSON ({e.msg} at column "
                                    f"{e.colno}); each line must be one JSON object.") from None
                yield f"{path}:{lineno}", row
    except (OSError, EOFError) as e:  # unreadable file, or a damaged .gz
        raise DataError(f"{path}:{lineno + 1}: cannot read the file ({e}).") from None


def read_jsonl(path: str | Path, fields: FieldMap) -> list[Prompt]:
    """One JSON object per line; blank lines are skipped; errors name file and line."""
    out = [_row_to_prompt(row, fields, where, int(where.rsplit(":", 1)[1]) - 1)
           for where, row in iter_jsonl_rows(path)]
    if not out:
        raise DataError(f"dataset file '{path}' has no rows.")
    return out


def _load_parquet(path: Path) -> list[Any]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("reading parquet needs pyarrow: pip install 'focusrl[data]'.") from None
    try:
        return pq.read_table(path).to_pylist()
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types
        raise DataError(f"{path}: not a readable parquet file ({e}).") from None


def _load_hf_disk(path: Path, split: str) -> Any:
    try:
        from datasets import DatasetDict, load_from_disk
    except ImportError:
        raise DataError("reading HF datasets needs `datasets`: "
                        "pip install 'focusrl[data]'.") from None
    try:
        ds = load_from_disk(str(path))
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{path}: not a dataset saved with save_to_disk ({e}).") from None
    if isinstance(ds, DatasetDict):
        if split not in ds:
            raise DataError(f"{path}: no split '{split}' (splits: {list(ds)}); set data.hf_split.")
        ds = ds[split]
    return ds


def read_parquet(path: str | Path, fields: FieldMap) -> list[Prompt]:
    path = Path(path)
    if not path.exists():
        raise DataError(f"dataset file '{path}' does not exist; check data.path.")
    rows = _load_parquet(path)
    return [_row_to_prompt(r, fields, f"{path}: row {i}", i) for i, r in enumerate(rows)]


def read_hf_disk(path: str | Path, fields: FieldMap, split: str = "train") -> list[Prompt]:
    """A Dataset or DatasetDict written by `datasets`' save_to_disk."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"dataset directory '{path}' does not exist; check data.path.")
    ds = _load_hf_disk(path, split)
    return [_row_to_prompt(r, fields, f"{path}: row {i}", i) for i, r in enumerate(ds)]


def read_file(path: str, fields: FieldMap, split: str = "train") -> list[Prompt]:
    p = Path(path)
    if p.is_dir():
        return read_hf_disk(p, fields, split)
    if p.suffix == ".parquet":
        return read_parquet(p, fields)
    return read_jsonl(p, fields)


def read_rows(path: str | Path, split: str = "train") -> list[tuple[str, Any]]:
    """Raw (where, row) pairs of a jsonl(.gz) file, a parquet file or a saved dataset."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"dataset path '{p}' does not exist; check data.path.")
    if p.is_dir():
        rows = _load_hf_disk(p, split)
        return [(f"{p}: row {i}", r) for i, r in enumerate(rows)]
    if p.suffix == ".parquet":
        return [(f"{p}: row {i}", r) for i, r in enumerate(_load_parquet(p))]
    return list(iter_jsonl_rows(p))
