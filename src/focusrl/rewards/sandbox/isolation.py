"""What isolation this machine offers the sandbox, probed once per process.

- Namespaces: `unshare --net --pid --fork --kill-child` gives the child a network
  namespace (only a loopback device that is down: no route anywhere, not even to the
  host's 127.0.0.1) and a PID namespace (host processes cannot be named, and killing
  the namespace's init kills every process in it, including ones that called setsid).
  Needs root or user namespaces; probed by running `true` under it.
- Privilege drop: when the host runs as root, the child switches to an unprivileged uid
  (one per concurrent run), so it cannot write root-owned files, signal host processes,
  and RLIMIT_NPROC applies (root is exempt from it). The interpreter's standard library
  must then be readable by that uid; `pick_interpreter` checks this.
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import subprocess
import sys
import threading

UNSHARE_ARGS = ("--net", "--pid", "--fork", "--kill-child")


@functools.lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """True when `unshare --net --pid --fork --kill-child true` works here."""
    exe = shutil.which("unshare")
    if exe is None:
        return False
    try:
        done = subprocess.run([exe, *UNSHARE_ARGS, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _world_readable(path: str) -> bool:
    """Every directory on the way is world-searchable and the file world-readable."""
    path = os.path.realpath(path)
    parts = path.split(os.sep)
    for i in range(2, len(parts)):
        st = os.stat(os.sep.join(parts[:i]) or os.sep)
        if not st.st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


@functools.lru_cache(maxsize=4)
def pick_interpreter(preferred: str = "") -> tuple[str, bool]:
    """(python executable, whether its stdlib is readable by an unprivileged uid).

    Tries `preferred` (or this interpreter), then system pythons; returns the first whose
    standard library another uid can read, else the first candidate with False.
    """
    candidates = [preferred] if preferred else [sys.executable, "/usr/bin/python3",
                                                "/usr/local/bin/python3"]
    candidates = [c for c in candidates if c and os.path.exists(c)]
    if not candidates:
        raise FileNotFoundError(f"sandbox: no Python interpreter found (tried {preferred!r}); "
                                "set sandbox `python` to an existing executable.")
    for exe in candidates:
        try:
            out = subprocess.run([exe, "-I", "-S", "-c", "import os; print(os.__file__)"],
                                 capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and _world_readable(exe) and _world_readable(out.stdout.strip()):
            return exe, True
    return candidates[0], False


class UidSlots:
    """Hands out distinct unprivileged uids to concurrent runs in this process, so one
    run's processes never count against (or can be signalled by) another's."""

    def __init__(self, base: int, count: int = 256):
        self.base = base
        self._free = list(range(count))
        self._lock = threading.Condition()

    def acquire(self) -> int:
        with self._lock:
            while not self._free:
                self._lock.wait()
            return self.base + self._free.pop()

    def release(self, uid: int) -> None:
        with self._lock:
            self._free.append(uid - self.base)
            self._lock.notify()


def processes_of_uid(uid: int) -> list[int]:
    """PIDs of live processes owned by `uid` (read from /proc)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid == uid:
                pids.append(int(name))
        except OSError:
            continue
    return pids
