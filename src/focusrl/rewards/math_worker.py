"""A math-verification worker process that can be killed: the time limit that holds.

math-verify (sympy) can spend unbounded time in C code (`9^{9^{9}}`, `(10^{8})!`), where
no Python-level alarm is delivered, so a thread or an alarm alone cannot stop it. Each
`MathWorker` runs the checks in a child process (`python -c ...`, no fork of the
caller, no re-import of `__main__`); answers stream back one by one, and when one takes
longer than its limit (plus `GRACE_S`) the child is SIGKILLed, that answer is reported
as timed out, and the batch goes on with the next answer in a spare child that has been
warming up in the background since the last start (importing math-verify takes seconds;
a kill then costs the answer's limit, not an import). So a worker holds two processes.
Inside the child an interval-timer alarm stops Python-level slowness at `timeout_s`
without the cost of a restart. The child's address space is capped (`memory_mb`), so
`2^{2^{40}}` fails fast instead of filling the machine's memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

GRACE_S = 1.0
"""Extra time past `timeout_s` before the child is killed (the in-child alarm first)."""
START_TIMEOUT_S = 120.0
"""How long a fresh child may take to import math-verify, warm up and say it is ready."""


class WorkerError(RuntimeError):
    """The worker process could not be started or broke its protocol."""


def _child_main() -> None:
    """The child: read one JSON batch per line on stdin, write `[index, result]` lines
    (result: true, false or null for a timeout) on the original stdout."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever the checkers print goes to stderr, not into the protocol
    memory = int(os.environ.get("FOCUSRL_MATH_MEMORY", "0"))
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    from focusrl.rewards.math_answer import AnswerTimeout, verify_with_alarm

    # warm up (math-verify builds its parsers and sympy its caches on first use: seconds),
    # so the first real answer is not charged for it
    verify_with_alarm("$\\frac{1}{2}$", "\\boxed{x^2+1}", "auto", START_TIMEOUT_S)
    out.write("ready\n")
    for line in sys.stdin:
        batch = json.loads(line)
        for i, (gold, response) in enumerate(batch["items"]):
            try:
                ok: bool | None = verify_with_alarm(gold, response, batch["extract"],
                                                    batch["timeout_s"])
            except AnswerTimeout:
                ok = None
            except (MemoryError, RecursionError, OverflowError, ValueError):
                ok = False
            out.write(json.dumps([i, ok]) + "\n")


class MathWorker:
    """One child process; `check` sends a batch and collects per-answer results."""

    def __init__(self, memory_mb: int = 4096):
        self.memory_mb = memory_mb
        self.kills = 0
        """Children killed for overrunning an answer's limit."""
        self._proc: subprocess.Popen | None = None
        self._spare: subprocess.Popen | None = None
        self._buf = b""
        self._lock = threading.Lock()

    def _spawn(self) -> subprocess.Popen:
        import focusrl

        src = str(Path(focusrl.__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [src, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]),
            "FOCUSRL_MATH_MEMORY": str(self.memory_mb << 20)}
        return subprocess.Popen(
            [sys.executable, "-c", "from focusrl.rewards.math_worker import _child_main; "
             "_child_main()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
            start_new_session=True)

    def _start(self) -> subprocess.Popen:
        """Make the spare (warming up since the last start) the worker, or start one, and
        start a new spare: a killed worker is replaced without waiting for an import."""
        proc = self._spare or self._spawn()
        self._spare = self._spawn()  # warms up while `proc` works
        self._proc, self._buf = proc, b""
        if self._line(START_TIMEOUT_S) != b"ready":
            self._kill()
            raise WorkerError("the math-verify worker did not start (see its stderr above); "
                              "is math-verify installed? pip install 'focusrl[math]'")
        return proc

    def _line(self, timeout_s: float) -> bytes | None:
        """The next line from the child, or None on timeout or end of output."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    @staticmethod
    def _kill_proc(proc: subprocess.Popen) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for f in (proc.stdin, proc.stdout):
            if f is not None:
                f.close()

    def _kill(self) -> None:
        if self._proc is not None:
            self._kill_proc(self._proc)
        self._proc = None
    def check(self, items: Sequence[tuple[str, str]], extract: str, timeout_s: float,
              on_timeout: Callable[[int], None] | None = None) -> list[bool | None]:
        """Results in order: True/False, or None when the answer ran out of time (the
        child is killed and replaced when it overran by more than GRACE_S)."""
        results: list[bool | None] = []
        with self._lock:
            while len(results) < len(items):
                start = len(results)
                proc = self._proc if self._proc and self._proc.poll() is None else self._start()
                batch = {"items": list(items[start:]), "extract": extract,
                         "timeout_s": timeout_s}
                assert proc.stdin is not None
                try:
                    proc.stdin.write((json.dumps(batch) + "\n").encode())
                    proc.stdin.flush()
                except BrokenPipeError:
                    self._kill()
                    continue
                while len(results) < len(items):
                    line = self._line(timeout_s + GRACE_S)
                    if line is None:  # overran (or died): kill, count, go on after it
                        self._kill()
                        self.kills += 1
                        results.append(None)
                        if on_timeout:
                            on_timeout(len(results) - 1)
                        break
                    i, ok = json.loads(line)
                    if i != len(results) - start:
                        self._kill()
                        raise WorkerError(f"math worker answered item {i}, expected "
                                          f"{len(results) - start}")
                    results.append(ok)
        return results

    def close(self) -> None:
        with self._lock:
            self._kill()
            if self._spare is not None:
                self._kill_proc(self._spare)
                self._spare = None
