"""Math answers checked for equivalence with the math-verify library, under a time limit.

The gold answer may be bare LaTeX (`\\frac{1}{2}`), a `\\boxed{}` expression, or a GSM8K
worked solution ending in `#### 18`. The response's answer is extracted first (by
default: last `\\boxed{}`, else `####`, else the last number), checked against the
one-final-answer and plain-number rules of `math_rules.py`, and otherwise both sides are
parsed with math-verify and compared symbolically (fractions, decimals, LaTeX variants,
sets, intervals, equations like `x=5` against `5`).

Time limit: every check runs in a checker process forked by a `MathWorker` fork server
(math_worker.py), never in the caller: an interval-timer alarm inside the checker stops
Python-level slowness at `timeout_s`, and a checker still busy `GRACE_S` later (stuck in C
code, e.g. sympy on `9^{9^{9}}`) is killed and a fresh one forked. A timed-out answer is
counted in `timeouts`; `score` returns a `SampleFailure` for it, so the pipeline gives that
sample the fallback and counts it under its sample id, and no other answer is touched.
"""

from __future__ import annotations

import logging
import re
import signal
from collections.abc import Sequence
from typing import Any, Literal

from focusrl.rewards.base import SampleFailure
from focusrl.rewards.extract import extract_answer, extract_boxed, extract_hash
from focusrl.rewards.math_rules import FLOAT_ROUNDING, precheck, several_boxed_answers
from focusrl.rewards.math_worker import MathWorker
from focusrl.types import Sample

Extract = Literal["auto", "boxed", "hash", "last_number", "full", "math_verify"]
log = logging.getLogger(__name__)


class AnswerTimeout(Exception):
    """Parsing or comparing one answer took longer than the per-answer limit."""


def _require_math_verify() -> Any:
    try:
        import math_verify
    except ImportError as e:
        raise ImportError("the math_verify reward needs the math-verify package: "
                          "pip install 'focusrl[math]' (or pip install math-verify)") from e
    logging.getLogger("math_verify").setLevel(logging.ERROR)  # "timeout disabled" notices
    return math_verify


def gold_text(answer: object) -> str:
    """The gold answer as LaTeX math: `#### 18` solutions reduce to `18`; a string that
    already has `\\boxed{}` or an unescaped `$` is kept; anything else is wrapped in `$...$`."""
    text = str(answer).strip()
    if "####" in text:
        text = extract_hash(text) or text
    if "\\boxed" in text or re.search(r"(?<!\\)\$", text):  # already delimited math
        return text
    return f"${text}$"


def _gold_answer(gold: str) -> str:
    """The answer text inside a gold string made by gold_text (no `$` or box)."""
    return extract_boxed(gold) or gold.strip().strip("$")


def _parse_and_verify(gold: str, response: str, extract: str) -> bool:
    mv = _require_math_verify()
    if extract in ("auto", "boxed", "math_verify") and several_boxed_answers(response):
        return False
    if extract == "math_verify":
        got = extract_boxed(response)
    else:
        got = extract_answer(response, extract)  # type: ignore[arg-type]
        if got is None or not got.strip():
            return False
    if got is not None:
        decided = precheck(_gold_answer(gold), got)
        if decided is not None:
            return decided
    pred = mv.parse(response if extract == "math_verify" else f"${got}$",
                    parsing_timeout=None)
    gold_parsed = mv.parse(gold, parsing_timeout=None)
    if not gold_parsed or not pred:
        return False
    return bool(mv.verify(gold_parsed, pred, float_rounding=FLOAT_ROUNDING,
                          timeout_seconds=None))


def verify_with_alarm(gold: str, response: str, extract: str, timeout_s: float) -> bool:
    """Check one answer in the main thread under an interval-timer alarm."""

    def on_alarm(signum: int, frame: object) -> None:
        raise AnswerTimeout(f"answer check exceeded {timeout_s} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        return _parse_and_verify(gold, response, extract)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class MathVerifyReward:
    """1.0 when the response's answer is mathematically equivalent to the gold answer."""

    def __init__(self, extract: Extract = "auto", timeout_s: float = 5.0,
                 memory_mb: int = 4096):
        allowed = Extract.__args__  # type: ignore[attr-defined]
        if extract not in allowed:
            raise ValueError(f"math_verify: extract={extract!r} is not one of {allowed}.")
        if timeout_s <= 0:
            raise ValueError(f"math_verify: timeout_s must be > 0, got {timeout_s}.")
        if memory_mb < 512:
            raise ValueError(f"math_verify: memory_mb must be >= 512 (sympy needs it), got "
                             f"{memory_mb}.")
        _require_math_verify()
        self.extract = extract
        self.timeout_s = timeout_s
        self.timeouts = 0
        """Answers that hit the time limit (each scored as a failure)."""
        self.worker = MathWorker(memory_mb)

    def check_results(self, pairs: Sequence[tuple[object, str]]) -> list[bool | None]:
        """(gold answer, response) pairs -> equivalent, not, or None (timed out, counted)."""
        items = [(gold_text(a), r) for a, r in pairs]
        out = self.worker.check(items, self.extract, self.timeout_s)
        for ok, (_, response) in zip(out, items):
            if ok is None:
                self._timed_out(response)
        return out

    def check_many(self, pairs: Sequence[tuple[object, str]]) -> list[bool]:
        """Equivalent or not; a timeout counts as not equivalent (and in `timeouts`)."""
        return [bool(ok) for ok in self.check_results(pairs)]

    def check(self, answer: object, response: str) -> bool:
        """One answer: equivalent or not."""
        return self.check_many([(answer, response)])[0]

    def score(self, samples: Sequence[Sample]) -> list[float | SampleFailure]:
        """1.0 / 0.0, or a SampleFailure (timeout) that the pipeline counts."""
        results = self.check_results([(s.answer, s.response_text) for s in samples])
        return [SampleFailure("timeout", f"answer check exceeded {self.timeout_s} s")
                if ok is None else float(ok) for ok in results]

    def _timed_out(self, response: str) -> None:
        self.timeouts += 1
        log.warning("math_verify: answer check timed out after %.1f s: %.80r",
                    self.timeout_s, response[-80:])

    def close(self) -> None:
        self.worker.close()
