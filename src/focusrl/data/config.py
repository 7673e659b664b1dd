"""Config of the prompt source: generated tasks or files, field mapping, formatting."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from focusrl.configtools import ConfigError


@dataclass
class FieldMap:
    """Which record fields hold the id, prompt and answer (for file datasets)."""

    id: str = "id"
    """Field with a unique row id; rows without it get their line/row index."""
    prompt: str = "prompt"
    """Field with the prompt text."""
    answer: str = "answer"
    """Field with the ground-truth answer."""


@dataclass
class ArithmeticConfig:
    """Generated integer arithmetic: `a op b ... =` -> the exact result."""

    min_digits: int = 1
    """Fewest digits per operand."""
    max_digits: int = 2
    """Most digits per operand."""
    operators: str = "+"
    """Operators to draw from, any of '+-*'."""
    num_operands: int = 2
    """Operands per expression."""
    difficulty: int = 0
    """Difficulty knob: 0 uses min_digits/max_digits as given; d >= 1 gives every operand
    exactly d digits (overrides min_digits/max_digits). Each prompt's meta['difficulty']
    is its total operand digit count either way, so curricula can order a mixed pool."""

    def digit_range(self) -> tuple[int, int]:
        """(fewest, most) digits per operand after applying the difficulty knob."""
        if self.difficulty > 0:
            return self.difficulty, self.difficulty
        return self.min_digits, self.max_digits

    def validate(self) -> None:
        if self.difficulty < 0:
            raise ConfigError(f"arithmetic.difficulty must be >= 0, got {self.difficulty}.")
        if not 1 <= self.min_digits <= self.max_digits:
            raise ConfigError("arithmetic needs 1 <= min_digits <= max_digits, got "
                              f"{self.min_digits}, {self.max_digits}.")
        bad = set(self.operators) - set("+-*")
        if bad or not self.operators:
            raise ConfigError(f"arithmetic.operators must be a non-empty subset of '+-*', "
                              f"got {self.operators!r}.")
        if self.num_operands < 2:
            raise ConfigError("arithmetic.num_operands must be >= 2.")


@dataclass
class CountdownConfig:
    """Generated countdown: reach the target with these numbers and + - *."""

    num_numbers: int = 3
    """How many numbers are given."""
    max_number: int = 9
    """Numbers are drawn from 1..max_number."""
    difficulty: int = 0
    """Difficulty knob: 0 uses num_numbers/max_number as given; d >= 1 gives d + 1 numbers
    drawn from 1..10*d - 1 (d=1: two numbers up to 9; d=3: four numbers up to 29).
    meta['difficulty'] is the number count either way."""

    def effective(self) -> tuple[int, int]:
        """(num_numbers, max_number) after applying the difficulty knob."""
        if self.difficulty > 0:
            return self.difficulty + 1, 10 * self.difficulty - 1
        return self.num_numbers, self.max_number

    def validate(self) -> None:
        if self.difficulty < 0:
            raise ConfigError(f"countdown.difficulty must be >= 0, got {self.difficulty}.")
        if self.num_numbers < 2 or self.max_number < 1:
            raise ConfigError("countdown needs num_numbers >= 2 and max_number >= 1.")


@dataclass
class SATConfig:
    """Generated SAT (SATURN, arXiv 2505.16368): satisfiable by construction."""

    params: list[list[int]] = field(default_factory=lambda: [[3, 5, 5]])
    """(n, k, l) triples: n literals per clause, k variables, l clauses. Instances are
    drawn round-robin over the triples, so several triples give a mixed-difficulty pool
    (the ladder curriculum orders it by D(n, k, l))."""

    def validate(self) -> None:
        if not self.params:
            raise ConfigError("sat.params needs at least one [n, k, l] triple.")
        for t in self.params:
            if len(t) != 3:
                raise ConfigError(f"sat.params: each entry is [n, k, l], got {t}.")
            n, k, l_ = t
            if not (1 <= n <= k and l_ >= 1):
                raise ConfigError(f"sat.params: need 1 <= n <= k and l >= 1, got {t}.")


@dataclass
class DataConfig:
    """Where prompts come from and how they are formatted."""

    source: str = "arithmetic"
    """arithmetic | countdown | sat (generated), jsonl | parquet | hf_disk (files),
    gsm8k | math500 | humaneval | multiple_choice (benchmarks), or another loader
    registered in focusrl.data.sources.SOURCES."""
    path: str = ""
    """File or directory for file sources. Benchmarks default to
    <repo>/../shared/data/<name> (or $FOCUSRL_DATA_DIR/<name>) when it exists."""
    eval_path: str = ""
    """Held-out file; when empty, the last `num_eval` prompts of the source are held out."""
    hf_split: str = "train"
    """Split to read from a DatasetDict saved with save_to_disk."""
    fields: FieldMap = field(default_factory=FieldMap)
    """Field mapping for file sources."""
    prompt_template: str = "{prompt}"
    """Python format string wrapped around each prompt ({prompt} is the raw text)."""
    chat_template: Literal["auto", "always", "never"] = "auto"
    """Apply the tokenizer's chat template: auto = when it has one."""
    max_prompt_tokens: int = 256
    """Prompts longer than this (in tokens) are skipped and counted, or an error."""
    on_long_prompt: Literal["skip", "error"] = "skip"
    """What to do with a prompt over max_prompt_tokens."""
    num_train: int = 5000
    """Generated tasks: training prompts (file sources and benchmarks: cap, 0 = all)."""
    num_eval: int = 200
    """Held-out prompts (generated: a disjoint split; files: see eval_path; benchmarks
    with an official test split: cap on it, 0 = all)."""
    seed: int = 1234
    """Seed of the generated tasks and the train/held-out split (fixed per seed)."""
    arithmetic: ArithmeticConfig = field(default_factory=ArithmeticConfig)
    """Options of the arithmetic generator."""
    countdown: CountdownConfig = field(default_factory=CountdownConfig)
    """Options of the countdown generator."""
    sat: SATConfig = field(default_factory=SATConfig)
    """Options of the SAT generator."""

    def validate(self) -> None:
        if self.num_eval < 0 or self.num_train < 0:
            raise ConfigError("data.num_train and data.num_eval must be >= 0.")
        if "{prompt}" not in self.prompt_template:
            raise ConfigError("data.prompt_template must contain '{prompt}'.")
