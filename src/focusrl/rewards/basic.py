"""Simple checking rewards: exact match, numeric answer, response format."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from focusrl.rewards.extract import Method, extract_answer, parse_number
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
        return [
            float(bool(self.pattern.search(s.response_text)) and (s.finished or not self.require_eos))
            for s in samples
        ]
