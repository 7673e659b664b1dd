"""Math answers checked for equivalence with the math-verify library, under a time limit.

The gold answer may be bare LaTeX (`\\frac{1}{2}`), a `\\boxed{}` expression, or a GSM8K
worked solution ending in `#### 18`. The response's answer is extracted first (by
default: last `\\boxed{}`, else `####`, else the last number) and both sides are parsed
with math-verify and compared symbolically (fractions, decimals, LaTeX variants, sets,
intervals, equations like `x=5` against `5`).

Time limit: math-verify's own timeout uses `signal.alarm`, which works only in a main
thread and in whole seconds. We disable it and enforce `timeout_s` ourselves with
`signal.setitimer` around each answer; when called from another thread (the pipeline
runs each part in a thread to enforce its time limit; the async scorer) the batch is
sent to a one-process worker pool (spawned once) whose main thread takes the alarms.
Like any spawn-based multiprocessing, a script that scores off the main thread needs the
`if __name__ == "__main__":` guard (the worker re-imports the main module).
A timed-out answer scores 0 and is counted in `timeouts`.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import re
import signal
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Literal

from focusrl.rewards.extract import extract_answer, extract_hash
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


def _parse_and_verify(gold: str, response: str, extract: str) -> bool:
    mv = _require_math_verify()
    if extract == "math_verify":
        pred = mv.parse(response, parsing_timeout=None)
    else:
        got = extract_answer(response, extract)  # type: ignore[arg-type]
        if got is None or not got.strip():
            return False
        pred = mv.parse(f"${got}$", parsing_timeout=None)
    gold_parsed = mv.parse(gold, parsing_timeout=None)
    if not gold_parsed or not pred:
        return False
    return bool(mv.verify(gold_parsed, pred, timeout_seconds=None))


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


def _verify_in_worker(items: list[tuple[str, str]], extract: str, timeout_s: float
                      ) -> list[bool | None]:
    """Worker-process side, one batch per call (one round trip): None means timed out."""
    out: list[bool | None] = []
    for gold, response in items:
        try:
            out.append(verify_with_alarm(gold, response, extract, timeout_s))
        except AnswerTimeout:
            out.append(None)
    return out


class MathVerifyReward:
    """1.0 when the response's answer is mathematically equivalent to the gold answer."""

    def __init__(self, extract: Extract = "auto", timeout_s: float = 5.0):
        allowed = Extract.__args__  # type: ignore[attr-defined]
        if extract not in allowed:
            raise ValueError(f"math_verify: extract={extract!r} is not one of {allowed}.")
        if timeout_s <= 0:
            raise ValueError(f"math_verify: timeout_s must be > 0, got {timeout_s}.")
        _require_math_verify()
        self.extract = extract
        self.timeout_s = timeout_s
        self.timeouts = 0
        """Answers that hit the time limit (each scored 0)."""
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def check_many(self, pairs: Sequence[tuple[object, str]]) -> list[bool]:
        """(gold answer, response) pairs -> equivalent or not; a timeout counts as not
        equivalent and is counted. Off the main thread, the batch goes to the worker."""
        items = [(gold_text(a), r) for a, r in pairs]
        if threading.current_thread() is threading.main_thread():
            results: list[bool | None] = _verify_in_worker(items, self.extract, self.timeout_s)
        else:
            future = self._worker().submit(_verify_in_worker, items, self.extract,
                                           self.timeout_s)
            try:
                results = future.result(timeout=len(items) * self.timeout_s + 60.0)
            except FutureTimeout:
                results = [None] * len(items)
            except BrokenProcessPool as e:
                self._pool = None  # the next batch starts a fresh worker
                raise RuntimeError(f"math_verify worker process died ({e}); when running "
                                   "from stdin or a notebook, call from the main thread or "
                                   "run a script file (spawned workers re-import __main__)"
                                   ) from None
        return [self._timed_out(r) if ok is None else ok for ok, (_, r) in zip(results, items)]

    def check(self, answer: object, response: str) -> bool:
        """One answer: equivalent or not."""
        return self.check_many([(answer, response)])[0]

    def score(self, samples: Sequence[Sample]) -> list[float]:
        return [float(ok) for ok in self.check_many([(s.answer, s.response_text)
                                                     for s in samples])]

    def _timed_out(self, response: str) -> bool:
        self.timeouts += 1
        log.warning("math_verify: answer check timed out after %.1f s: %.80r",
                    self.timeout_s, response[-80:])
        return False

    def _worker(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                ctx = multiprocessing.get_context("spawn")  # no fork of a threaded process
                self._pool = ProcessPoolExecutor(1, mp_context=ctx)
                atexit.register(self.close)  # shut the worker down before interpreter teardown
            return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
