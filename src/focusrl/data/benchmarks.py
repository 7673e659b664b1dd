"""Loaders of public benchmarks: GSM8K, MATH-500, HumanEval and multiple-choice sets.

Each is a `SOURCES` entry (`data.source: gsm8k`, ...) returning `TaskData`. Paths:
`data.path` when set (a directory holding the official files, or one file); otherwise
`$FOCUSRL_DATA_DIR/<name>`, then `../shared/data/<name>` relative to the working
directory, then relative to the repository that holds this package, whichever exists.

Splits: GSM8K has train and test; MATH-500 and HumanEval are test sets only, so their
train and eval lists hold the same rows (evaluate on them, do not train on them to
report them). `data.eval_path` replaces the eval file; `data.num_train` and
`data.num_eval` cap the two lists (0 = all).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from focusrl.configtools import ConfigError
from focusrl.data.config import DataConfig
from focusrl.data.readers import DataError, TaskData, read_rows
from focusrl.types import Prompt

RowFn = Callable[[Any, str, int], Prompt]
"""(row, where, index) -> Prompt; raises DataError naming `where` on a bad row."""


def default_data_dir(name: str) -> Path | None:
    """The first existing <data dir>/<name> (see the module docstring), else None."""
    candidates = []
    if os.environ.get("FOCUSRL_DATA_DIR"):
        candidates.append(Path(os.environ["FOCUSRL_DATA_DIR"]) / name)
    candidates.append(Path.cwd() / ".." / "shared" / "data" / name)
    repo_root = Path(__file__).resolve().parents[3]
    candidates.append(repo_root / ".." / "shared" / "data" / name)
    for c in candidates:
        if c.exists():
            return c.resolve()
    return None


def _base_path(cfg: DataConfig, name: str) -> Path:
    if cfg.path:
        return Path(cfg.path)
    found = default_data_dir(name)
    if found is None:
        raise ConfigError(f"data.source '{name}': no data.path and no ../shared/data/{name} "
                          "found; set data.path to the dataset file or directory.")
    return found


def _need(row: Any, key: str, where: str) -> Any:
    if not isinstance(row, dict) or key not in row:
        have = sorted(row) if isinstance(row, dict) else type(row).__name__
        raise DataError(f"{where}: no field '{key}' (fields: {have}).")
    return row[key]


def _text(row: Any, key: str, where: str) -> str:
    """Field `key` of `row`, which must be text (null, lists, numbers... are errors)."""
    value = _need(row, key, where)
    if not isinstance(value, str):
        shown = "null" if value is None else f"{type(value).__name__} {value!r:.60}"
        raise DataError(f"{where}: field '{key}' must be text, got {shown}.")
    return value


def _read(path: Path, row_fn: RowFn, split: str) -> list[Prompt]:
    rows = read_rows(path, split)
    if not rows:
        raise DataError(f"dataset '{path}' has no rows.")
    return [row_fn(row, where, i) for i, (where, row) in enumerate(rows)]


def _cap(prompts: list[Prompt], n: int) -> list[Prompt]:
    return prompts[:n] if n else prompts


def holdout_split(prompts: list[Prompt], num_eval: int, seed: int) -> TaskData:
    """A seeded hold-out of min(num_eval, half) prompts; the rest train."""
    order = list(range(len(prompts)))
    random.Random(seed).shuffle(order)
    n_eval = min(num_eval, len(prompts) // 2)
    return TaskData(train=[prompts[i] for i in order[n_eval:]],
                    eval=[prompts[i] for i in order[:n_eval]])


def _train_test_source(cfg: DataConfig, name: str, train_file: str, test_file: str,
                       row_fn: RowFn) -> TaskData:
    base = _base_path(cfg, name)
    if base.is_dir() and (base / train_file).exists():
        train = _read(base / train_file, row_fn, cfg.hf_split)
        held = _read(Path(cfg.eval_path) if cfg.eval_path else base / test_file,
                     row_fn, cfg.hf_split)
    elif cfg.eval_path:
        train = _read(base, row_fn, cfg.hf_split)
        held = _read(Path(cfg.eval_path), row_fn, cfg.hf_split)
    else:
        split = holdout_split(_read(base, row_fn, cfg.hf_split), cfg.num_eval, cfg.seed)
        return TaskData(_cap(split.train, cfg.num_train), split.eval)
    return TaskData(_cap(train, cfg.num_train), _cap(held, cfg.num_eval))


def _test_only_source(cfg: DataConfig, name: str, test_file: str, row_fn: RowFn) -> TaskData:
    base = Path(cfg.eval_path) if cfg.eval_path else _base_path(cfg, name)
    if base.is_dir() and (base / test_file).exists():
        base = base / test_file
    rows = _read(base, row_fn, cfg.hf_split)
    return TaskData(_cap(rows, cfg.num_train), _cap(rows, cfg.num_eval))


# -- GSM8K -------------------------------------------------------------------------

def gsm8k_answer(solution: str) -> str:
    """The number after the last '####' with thousands separators removed."""
    idx = solution.rfind("####")
    if idx < 0:
        raise ValueError("no '####' in the solution")
    return solution[idx + 4:].strip().replace(",", "")


def _gsm8k_row(row: Any, where: str, index: int) -> Prompt:
    solution = _text(row, "answer", where)
    try:
        answer = gsm8k_answer(solution)
    except ValueError:
        raise DataError(f"{where}: GSM8K answer has no '#### <number>' line.") from None
    split = "test" if "test" in where.rsplit("/", 1)[-1] else "train"
    return Prompt(id=f"gsm8k/{split}/{index}", text=_text(row, "question", where),
                  answer=answer, meta={"task": "gsm8k", "solution": solution})


def load_gsm8k(cfg: DataConfig) -> TaskData:
    """GSM8K: text = question, answer = the number after ####, meta['solution']."""
    return _train_test_source(cfg, "gsm8k", "train.jsonl", "test.jsonl", _gsm8k_row)


# -- MATH-500 ----------------------------------------------------------------------

def _math500_row(row: Any, where: str, index: int) -> Prompt:
    meta = {"task": "math", "subject": row.get("subject") if isinstance(row, dict) else None,
            "level": row.get("level") if isinstance(row, dict) else None,
            "solution": row.get("solution") if isinstance(row, dict) else None}
    return Prompt(id=str(row.get("unique_id", f"math500/{index}")),
                  text=_text(row, "problem", where),
                  answer=_text(row, "answer", where), meta=meta)


def load_math500(cfg: DataConfig) -> TaskData:
    """MATH-500: text = problem, answer = the LaTeX answer; meta subject, level, solution."""
    return _test_only_source(cfg, "math500", "test.jsonl", _math500_row)


# -- HumanEval ---------------------------------------------------------------------

def _humaneval_row(row: Any, where: str, index: int) -> Prompt:
    record = {key: _text(row, key, where) for key in ("prompt", "test", "entry_point")}
    task_id = str(row.get("task_id", f"HumanEval/{index}"))
    return Prompt(id=task_id, text=record["prompt"], answer={"task_id": task_id, **record},
                  meta={"task": "code", **record,
                        "canonical_solution": row.get("canonical_solution")})


def load_humaneval(cfg: DataConfig) -> TaskData:
    """HumanEval: text = the function prompt; answer = the test record {task_id, prompt,
    test, entry_point} a code sandbox runs; the same fields (and the canonical solution)
    are in meta."""
    return _test_only_source(cfg, "humaneval", "HumanEval.jsonl.gz", _humaneval_row)


# -- Multiple choice ---------------------------------------------------------------

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _mc_row(cfg: DataConfig) -> RowFn:
    def row_fn(row: Any, where: str, index: int) -> Prompt:
        qkey = cfg.fields.prompt if isinstance(row, dict) and cfg.fields.prompt in row else (
            "question")
        question = _text(row, qkey, where)
        options = row.get("options", row.get("choices"))
        if isinstance(options, dict):
            options = [options[k] for k in sorted(options)]
        if not isinstance(options, list) or not 2 <= len(options) <= len(LETTERS):
            raise DataError(f"{where}: 'options' must be a list (or letter->text mapping) "
                            f"of 2..26 choices, got {options!r}.")
        raw = _need(row, cfg.fields.answer, where)
        if isinstance(raw, int) and not isinstance(raw, bool):
            letter = LETTERS[raw] if 0 <= raw < len(options) else ""
        else:
            letter = str(raw).strip().strip("()").upper()
        if letter not in LETTERS[: len(options)] or len(letter) != 1:
            raise DataError(f"{where}: answer {raw!r} is not one of the option letters "
                            f"{LETTERS[:len(options)]} (or a 0-based index).")
        lines = [question, *(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))]
        text = "\n".join(lines) + "\nAnswer with the letter of the correct option."
        meta = {k: v for k, v in row.items()
                if k not in (qkey, "options", "choices", cfg.fields.answer)}
        meta.update(task="multiple_choice", options=[str(o) for o in options],
                    question=question)
        return Prompt(id=str(row.get(cfg.fields.id, index)), text=text, answer=letter, meta=meta)

    return row_fn


def load_multiple_choice(cfg: DataConfig) -> TaskData:
    """Rows with a question (`question`, or the field data.fields.prompt names), `options`
    (or `choices`: a list, or a letter->text mapping) and the answer letter (or 0-based
    index) in data.fields.answer. Text lists the options as 'A. ...'; answer = letter."""
    if not cfg.path:
        raise ConfigError("data.source 'multiple_choice' needs data.path (jsonl, parquet or "
                          "a saved dataset).")
    row_fn = _mc_row(cfg)
    prompts = _read(Path(cfg.path), row_fn, cfg.hf_split)
    if cfg.eval_path:
        held = _read(Path(cfg.eval_path), row_fn, cfg.hf_split)
        return TaskData(_cap(prompts, cfg.num_train), _cap(held, cfg.num_eval))
    split = holdout_split(prompts, cfg.num_eval, cfg.seed)
    return TaskData(_cap(split.train, cfg.num_train), split.eval)


BENCHMARK_SOURCES: dict[str, Callable[[DataConfig], TaskData]] = {
    "gsm8k": load_gsm8k,
    "math500": load_math500,
    "humaneval": load_humaneval,
    "multiple_choice": load_multiple_choice,
}
