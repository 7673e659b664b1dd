"""Simple checking rewards: exact match, numeric answer, response format."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from focusrl.rewards.extract import Method, extract_answer, extract_choice, parse_number
from focusrl.types import Sample


def _normalize(text: str) -> str:
    return " ".join(text.strip().lower().split())


class ExactMatchReward:
    """1.0 when the extracted answer equals the ground truth (whitespace/case-insensitive)."""

    def __init__(self, extract: Method = "full", case_sensitive: bool = False):
        self.extract = extract
        self.case_sensitive = case_sensitive

    def score(self, samples: Sequence[Sample]) -> list[float]:
        out = []
        for s in samples:
            got = extract_answer(s.response_text, self.extract)
            if got is None:
                out.append(0.0)
                continue
            want = str(s.answer)
            if self.case_sensitive:
                out.append(float(got.strip() == want.strip()))
            else:
                out.append(float(_normalize(got) == _normalize(want)))
        return out


class NumericReward:
    """1.0 when the extracted answer equals the numeric ground truth within `tolerance`."""

    def __init__(self, extract: Method = "auto", tolerance: float = 1e-6):
        self.extract = extract
        self.tolerance = tolerance

    def score(self, samples: Sequence[Sample]) -> list[float]:
        out = []
        for s in samples:
            got = parse_number(extract_answer(s.response_text, self.extract))
            want = s.answer if isinstance(s.answer, (int, float)) else parse_number(str(s.answer))
            if got is None or want is None:
                out.append(0.0)
            else:
                out.append(float(math.isclose(got, float(want), rel_tol=0, abs_tol=self.tolerance)))
        return out


class FormatReward:
    """1.0 when the response matches a regular expression (e.g. ends with \\boxed{...})."""

    def __init__(self, pattern: str = r"^\s*-?\d+\s*$", require_eos: bool = True):
        self.pattern = re.compile(pattern, re.DOTALL)
        self.require_eos = require_eos

    def score(self, samples: Sequence[Sample]) -> list[float]:
        return [float(bool(self.pattern.search(s.response_text))
                      and (s.finished or not self.require_eos)) for s in samples]


class MultipleChoiceReward:
    """1.0 when the chosen option letter equals the gold one.

    The gold answer is a letter ("B") or a 0-based option index (1 -> "B").
    """

    def __init__(self, letters: str = "ABCD"):
        if not letters.isalpha() or not letters.isupper() or len(set(letters)) != len(letters):
            raise ValueError(f"multiple_choice: letters must be distinct upper-case letters, "
                             f"got {letters!r} (e.g. 'ABCD' or 'ABCDE').")
        self.letters = letters

    def gold_letter(self, answer: object) -> str:
        if isinstance(answer, int) and not isinstance(answer, bool):
            if not 0 <= answer < len(self.letters):
                raise ValueError(f"multiple_choice: answer index {answer} is outside "
                                 f"0..{len(self.letters) - 1} for letters {self.letters!r}.")
            return self.letters[answer]
        letter = str(answer).strip().strip("()").upper()
        if letter not in self.letters or len(letter) != 1:
            raise ValueError(f"multiple_choice: gold answer {answer!r} is not one of the "
                             f"letters {self.letters!r} nor an option index.")
        return letter

    def score(self, samples: Sequence[Sample]) -> list[float]:
        return [float(extract_choice(s.response_text, self.letters) == self.gold_letter(s.answer))
                for s in samples]


_COUNTDOWN_EXPR = re.compile(r"^[\d\s+\-*()]+$")


class CountdownReward:
    """1.0 when the response is an expression over the given numbers (each used at most
    once, with + - * and parentheses) that equals the target; 0.0 otherwise.

    The answer is the record the countdown generator writes: {"target", "numbers"}.
    """

    def __init__(self, require_all_numbers: bool = False):
        self.require_all_numbers = require_all_numbers

    def _check(self, text: str, target: int, numbers: list[int]) -> float:
        expr = text.strip().splitlines()[0].strip() if text.strip() else ""
        if not expr or not _COUNTDOWN_EXPR.match(expr) or "**" in expr:
            return 0.0
        used = [int(n) for n in re.findall(r"\d+", expr)]
        pool = list(numbers)
        for n in used:
            if n not in pool:
                return 0.0
            pool.remove(n)
        if self.require_all_numbers and pool:
            return 0.0
        try:
            value = eval(expr, {"__builtins__": {}})  # noqa: S307 - digits, + - * ( ) only
        except (SyntaxError, TypeError, ValueError, ZeroDivisionError):
            return 0.0
        return float(value == target)

    def score(self, samples: Sequence[Sample]) -> list[float]:
        return [self._check(s.response_text, int(s.answer["target"]), list(s.answer["numbers"]))
                for s in samples]
