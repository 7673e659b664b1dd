"""Math verification in worker processes that can be killed: the time limit that holds.

math-verify (sympy) can spend unbounded time in C code (`9^{9^{9}}`, `(10^{8})!`), where
no Python-level alarm is delivered, so a thread or an alarm alone cannot stop it. A
`MathWorker` starts one *fork server* (`python -c ...`: no fork of the caller, no
re-import of `__main__`) that imports math-verify and warms it up once, then forks a
checker process on request (milliseconds). Answers stream back from the checker one by
one; when one takes longer than its limit plus `GRACE_S` the checker is SIGKILLed, that
answer is reported as timed out, and the batch goes on with the next answer in a freshly
forked checker: a kill costs the answer's limit, not an import. Inside the checker an
interval-timer alarm stops Python-level slowness at `timeout_s` without any kill. The
fork server's address space is capped (`memory_mb`, inherited by the checkers), so
`2^{2^{40}}` fails fast instead of filling the machine's memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

GRACE_S = 1.0
"""Extra time past `timeout_s` before a checker is killed (the in-checker alarm first)."""
START_TIMEOUT_S = 120.0
"""How long the fork server may take to import math-verify, warm up and say it is ready."""


class WorkerError(RuntimeError):
    """The fork server could not be started or a checker broke its protocol."""


def _check_loop(rfd: int, wfd: int) -> None:
    """A checker: one JSON batch per line in, `[index, result]` lines out (result: true,
    false or null for a timeout)."""
    from focusrl.rewards.math_answer import AnswerTimeout, verify_with_alarm

    out = os.fdopen(wfd, "w", buffering=1)
    for line in os.fdopen(rfd, "r"):
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


def _server_main() -> None:
    """The fork server: import and warm up once; then, per request (a message carrying a
    request and a reply fd), fork a checker on those fds and answer with its pid."""
    os.dup2(2, 1)  # whatever the checkers print goes to stderr
    memory = int(os.environ.get("FOCUSRL_MATH_MEMORY", "0"))
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    from focusrl.rewards.math_answer import verify_with_alarm

    # math-verify builds its parsers and sympy its caches on first use (seconds)
    verify_with_alarm("$\\frac{1}{2}$", "\\boxed{x^2+1}", "auto", START_TIMEOUT_S)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # checkers are reaped by the kernel
    ctl = socket.socket(fileno=int(os.environ["FOCUSRL_MATH_CTL_FD"]))
    ctl.sendall(b"ready\n")
    while True:
        msg, fds, _, _ = socket.recv_fds(ctl, 16, 2)
        if not msg or len(fds) != 2:
            os._exit(0)  # the parent is gone
        pid = os.fork()
        if pid == 0:
            ctl.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            try:
                _check_loop(*fds)
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)
        ctl.sendall(f"{pid}\n".encode())


class MathWorker:
    """A fork server and one live checker; `check` sends a batch and collects results."""

    def __init__(self, memory_mb: int = 4096):
        self.memory_mb = memory_mb
        self.kills = 0
        """Checkers killed for overrunning an answer's limit."""
        self._server: subprocess.Popen | None = None
        self._ctl: socket.socket | None = None
        self._checker: tuple[int, int, int] | None = None
        """(pid, request fd, reply fd) of the live checker."""
        self._buf = b""
        self._lock = threading.Lock()

    def _start_server(self) -> None:
        import focusrl

        src = str(Path(focusrl.__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [src, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]),
            "FOCUSRL_MATH_MEMORY": str(self.memory_mb << 20)}
        ours, theirs = socket.socketpair()
        env["FOCUSRL_MATH_CTL_FD"] = str(theirs.fileno())
        self._server = subprocess.Popen(
            [sys.executable, "-c", "from focusrl.rewards.math_worker import _server_main; "
             "_server_main()"], stdin=subprocess.DEVNULL, env=env, start_new_session=True,
            pass_fds=(theirs.fileno(),))
        theirs.close()
        self._ctl = ours
        if self._ctl_line(START_TIMEOUT_S) != b"ready":
            self._stop_server()
            raise WorkerError("the math-verify worker did not start (see its stderr above); "
                              "is math-verify installed? pip install 'focusrl[math]'")

    def _ctl_line(self, timeout_s: float) -> bytes | None:
        assert self._ctl is not None
        self._ctl.settimeout(timeout_s)
        data = b""
        try:
            while not data.endswith(b"\n"):
                chunk = self._ctl.recv(64)
                if not chunk:
                    return None
                data += chunk
        except OSError:
            return None
        return data.strip()

    def _stop_server(self) -> None:
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None
        if self._server is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._server.pid, signal.SIGKILL)
            self._server.wait()
            self._server = None

    def _fork_checker(self) -> tuple[int, int, int]:
        for _attempt in range(2):
            if self._server is None or self._server.poll() is not None:
                self._stop_server()
                self._start_server()
            req_r, req_w = os.pipe()
            rep_r, rep_w = os.pipe()
            try:
                socket.send_fds(self._ctl, [b"fork"], [req_r, rep_w])  # type: ignore[arg-type]
                pid_line = self._ctl_line(30.0)
            except OSError:
                pid_line = None
            os.close(req_r)
            os.close(rep_w)
            if pid_line and pid_line.isdigit():
                self._buf = b""
                return int(pid_line), req_w, rep_r
            os.close(req_w)
            os.close(rep_r)
            self._stop_server()  # a broken server: start a new one and try once more
        raise WorkerError("the math-verify fork server does not answer")

    def _line(self, timeout_s: float) -> bytes | None:
        """The next line from the checker, or None on timeout or end of output."""
        assert self._checker is not None
        fd = self._checker[2]
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

    def _kill_checker(self) -> None:
        if self._checker is not None:
            pid, req_w, rep_r = self._checker
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            os.close(req_w)
            os.close(rep_r)
        self._checker = None

    def check(self, items: Sequence[tuple[str, str]], extract: str, timeout_s: float
              ) -> list[bool | None]:
        """Results in order: True/False, or None when the answer ran out of time (its
        checker is killed when it overran by more than GRACE_S)."""
        results: list[bool | None] = []
        with self._lock:
            while len(results) < len(items):
                start = len(results)
                if self._checker is None:
                    self._checker = self._fork_checker()
                batch = {"items": list(items[start:]), "extract": extract,
                         "timeout_s": timeout_s}
                try:
                    data = (json.dumps(batch) + "\n").encode()
                    while data:
                        data = data[os.write(self._checker[1], data):]
                except OSError:  # the checker died between batches
                    self._kill_checker()
                    continue
                while len(results) < len(items):
                    line = self._line(timeout_s + GRACE_S)
                    if line is None:  # overran (or died): kill, count, go on after it
                        self._kill_checker()
                        self.kills += 1
                        results.append(None)
                        break
                    i, ok = json.loads(line)
                    if i != len(results) - start:
                        self._kill_checker()
                        raise WorkerError(f"math checker answered item {i}, expected "
                                          f"{len(results) - start}")
                    results.append(ok)
        return results

    def close(self) -> None:
        with self._lock:
            self._kill_checker()
            self._stop_server()
