"""What isolation this machine offers the sandbox, probed once per process.

- Jail (bubblewrap, `bwrap`): a mount namespace whose root holds only read-only `/usr`
  (and the interpreter's prefix), the bootstrap, the run's own box, a fresh `/proc` of
  its own PID namespace, a minimal `/dev`, and private tmpfs `/tmp` and `/dev/shm`; plus
  network, PID, IPC and UTS namespaces. No project file, data set, host socket file,
  other box or host process is visible. Needs root (or unprivileged user namespaces);
  probed by running `true` in it.
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
import logging
import os
import shutil
import stat
import subprocess
import sys
import threading

UNSHARE_ARGS = ("--net", "--pid", "--fork", "--kill-child")
BWRAP_ARGS = ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
              "--unshare-cgroup-try", "--die-with-parent", "--new-session",
              "--hostname", "sandbox", "--proc", "/proc", "--dev", "/dev",
              "--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/dev/shm")
JAIL_BOX = "/box"
"""Where the run's box appears inside the jail."""
JAIL_BOOTSTRAP = "/sandbox/bootstrap.py"
MISSING = {
    "namespace": "a private file-system view (the program can read world-readable host "
                 "files: the project, data sets, /proc of the host; write world-writable "
                 "places such as /tmp and /dev/shm; reach Unix socket files)",
    "none": "a private file-system view (see above), network and PID namespaces (network "
            "is blocked only by the in-process audit hook, which native code and "
            "subprocesses bypass; host processes are visible)",
}
log = logging.getLogger(__name__)
_warned: set[str] = set()


@functools.lru_cache(maxsize=1)
def jail_available() -> bool:
    """True when bubblewrap runs `true` in the jail used for programs."""
    exe = shutil.which("bwrap")
    if exe is None:
        return False
    try:
        done = subprocess.run([exe, *BWRAP_ARGS, *_system_binds(), "true"],
                              capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _system_binds() -> list[str]:
    """Read-only /usr, and /bin, /lib, ... as the host has them (links or directories)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def jail_command(box: str, bootstrap: str, python_prefix: str) -> list[str]:
    """bwrap arguments that show the program only the system, its box and the bootstrap."""
    args = [shutil.which("bwrap") or "bwrap", *BWRAP_ARGS, *_system_binds()]
    real = os.path.realpath(python_prefix)
    if not (real == "/usr" or real.startswith("/usr/")):
        args += ["--ro-bind", real, real]
    return [*args, "--ro-bind", bootstrap, JAIL_BOOTSTRAP, "--bind", box, JAIL_BOX,
            "--chdir", f"{JAIL_BOX}/work"]


def effective_isolation(requested: str) -> str:
    """The isolation a run gets: jail, namespace or none. `auto` takes the best this
    machine has and says ONCE, loudly, which protections are then missing; `jail` and
    `namespace` are requirements (an error when unavailable)."""
    if requested in ("auto", "jail") and jail_available():
        return "jail"
    if requested == "jail":
        raise RuntimeError("sandbox isolation='jail' but bubblewrap (`bwrap`) is missing or "
                           "cannot create namespaces here; install it (apt-get install "
                           "bubblewrap; scripts/setup.sh does it as root) or use "
                           "isolation='auto' to accept weaker isolation.")
    if requested in ("auto", "namespace") and namespaces_available():
        got = "namespace"
    elif requested == "namespace":
        raise RuntimeError("sandbox isolation='namespace' but `unshare --net --pid` fails "
                           "on this machine; use isolation='auto' to fall back to the "
                           "in-process guard (see docs/rewards.md).")
    else:
        got = "none"
    if requested == "auto":
        why = "bubblewrap (bwrap) is not installed" if shutil.which("bwrap") is None else \
            "bubblewrap cannot create its namespaces here"
        warn_once(got, f"SANDBOX ISOLATION IS WEAKER THAN THE JAIL: {why}; running with "
                  f"isolation={got!r}, so untrusted programs lack {MISSING[got]}. Install "
                  "bubblewrap (scripts/setup.sh does as root) or see docs/rewards.md.")
    return got


def warn_once(key: str, msg: str) -> None:
    """A loud warning (log + RuntimeWarning), once per process and key."""
    if key in _warned:
        return
    _warned.add(key)
    log.warning(msg)
    import warnings

    warnings.warn(msg, RuntimeWarning, stacklevel=4)


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
def pick_interpreter(preferred: str = "") -> tuple[str, bool, str]:
    """(python executable, whether its stdlib is readable by an unprivileged uid, its
    sys.base_prefix).

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
            out = subprocess.run([exe, "-I", "-S", "-c", "import os, sys; print(os.__file__); "
                                  "print(sys.base_prefix)"],
                                 capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        lines = out.stdout.split("\n")
        if out.returncode == 0 and _world_readable(exe) and _world_readable(lines[0]):
            return exe, True, lines[1]
    return candidates[0], False, os.path.dirname(os.path.dirname(candidates[0]))


SLOTS = 256
"""Concurrent runs per uid_base: candidate uids are base..base+255, harness uids
base+256..base+511."""


class UidSlots:
    """Hands out distinct unprivileged uids to concurrent runs in this process, so one
    run's processes never count against (or can be signalled by) another's."""

    def __init__(self, base: int, count: int = SLOTS):
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
