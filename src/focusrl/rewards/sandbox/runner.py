"""Run untrusted Python in a sandbox, one program or a solution judged by trusted tests,
and a pool that runs many in parallel.

Security model (see docs/rewards.md, "Threat model"): each run gets a fresh temporary box
(`<box>/work` is the program's working directory, owned by the candidate uid; spec,
nonce, program, tests and output files are root-only), the bubblewrap jail (a private,
minimal file system with its own /proc, /tmp and /dev/shm; network, PID, IPC and UTS
namespaces) or, where the machine lacks it, a weaker level announced once, a scrubbed
environment, resource limits (CPU seconds, address space, file size, processes, open
files), its own session and process group, a wall-clock timeout after which the whole
group and PID namespace are SIGKILLed, unprivileged uids when the host is root (one for
the candidate, another for the test harness), and an audit-hook guard. `run_tests` keeps
the verdict out of the candidate's reach: the tests run in another process (see
_bootstrap.py). Output goes to files capped by RLIMIT_FSIZE. The box is removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from focusrl.rewards.sandbox.isolation import (
    JAIL_BOOTSTRAP,
    JAIL_BOX,
    SLOTS,
    UNSHARE_ARGS,
    UidSlots,
    effective_isolation,
    jail_command,
    pick_interpreter,
    processes_of_uid,
    warn_once,
)

Status = Literal["pass", "fail", "timeout", "error"]
BOOTSTRAP = str(Path(__file__).with_name("_bootstrap.py"))
_SLOTS: dict[int, UidSlots] = {}
_SLOTS_LOCK = threading.Lock()


@dataclass
class SandboxLimits:
    """Resource limits of one run (each applies per process of the run)."""

    cpu_seconds: int = 10
    """RLIMIT_CPU: SIGXCPU after this many CPU seconds (reported as timeout)."""
    wall_seconds: float = 15.0
    """Wall-clock limit; then the whole process group / PID namespace is SIGKILLed."""
    memory_bytes: int = 1 << 30
    """RLIMIT_AS: address space per process (allocations beyond raise MemoryError)."""
    file_bytes: int = 16 << 20
    """RLIMIT_FSIZE: largest file the run may write, stdout and stderr included."""
    processes: int = 32
    """RLIMIT_NPROC: processes of the sandbox uid (enforced only after a privilege drop)."""
    open_files: int = 64
    """RLIMIT_NOFILE: open file descriptors per process."""


@dataclass
class SandboxConfig:
    """How programs are isolated and how many run at once."""

    limits: SandboxLimits = field(default_factory=SandboxLimits)
    isolation: Literal["auto", "jail", "namespace", "none"] = "auto"
    """jail: require the bubblewrap jail (private file system + network, PID, IPC, UTS
    namespaces); namespace: require network+PID namespaces only; none: process group,
    limits and guard only; auto: the best this machine allows, with one loud warning
    naming what is missing when that is not the jail."""
    drop_privileges: bool = True
    """When the host is root, run as an unprivileged uid (uid_base + slot)."""
    uid_base: int = 61000
    """First uid of the sandbox slots (also used as the gid)."""
    python: str = ""
    """Interpreter for the programs; '' picks one whose stdlib an unprivileged uid reads."""
    guard: bool = True
    """Install the audit-hook guard (writes outside the box, signals, ctypes, sockets)."""
    workers: int = 2
    """Programs run in parallel by a SandboxPool."""
    tail_bytes: int = 2000
    """How much of the end of stderr/stdout a result keeps."""
    tmp_root: str = ""
    """Where boxes are created ('' = the system temp directory)."""

    def validate(self) -> None:
        lim = self.limits
        if lim.cpu_seconds < 1 or lim.wall_seconds <= 0:
            raise ValueError("sandbox limits: cpu_seconds must be >= 1 and wall_seconds > 0.")
        if lim.memory_bytes < 64 << 20:
            raise ValueError(f"sandbox limits: memory_bytes={lim.memory_bytes} is below 64 MiB;"
                             " Python itself needs about 30 MiB of address space.")
        if lim.processes < 2 or lim.open_files < 16 or lim.file_bytes < 1024:
            raise ValueError("sandbox limits: need processes >= 2, open_files >= 16 and "
                             "file_bytes >= 1024 for Python to start.")
        if self.workers < 1:
            raise ValueError(f"sandbox workers must be >= 1, got {self.workers}.")
        if self.isolation not in ("auto", "jail", "namespace", "none"):
            raise ValueError(f"sandbox isolation={self.isolation!r}; choose auto, jail, "
                             "namespace or none.")
        effective_isolation(self.isolation)  # errors for an unavailable requirement


@dataclass(frozen=True)
class SandboxResult:
    """Outcome of one run."""

    status: Status
    """pass: finished and its tests passed; fail: an assertion failed; timeout: wall or
    CPU limit; error: anything else (exception, exit before the tests ended, killed)."""
    returncode: int | None
    stderr_tail: str
    stdout_tail: str
    wall_seconds: float
    detail: str = ""
    """Why, in words, when the status is not pass."""

    @property
    def passed(self) -> bool:
        return self.status == "pass"


def _slots(base: int) -> UidSlots:
    with _SLOTS_LOCK:
        if base not in _SLOTS:
            _SLOTS[base] = UidSlots(base)
        return _SLOTS[base]


def _tail(path: Path, nbytes: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - nbytes))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _scrubbed_env(workdir: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0"}


def classify(returncode: int | None, verdict: str, nonce: str, timed_out: bool
             ) -> tuple[Status, str]:
    """Map how the run ended to a status and a reason (a pure function, tested directly)."""
    if timed_out:
        return "timeout", "wall-clock limit reached; process group killed"
    if verdict == f"TIMEOUT {nonce}":
        return "timeout", "CPU-time limit reached by the candidate (SIGXCPU)"
    signum = None
    if returncode is not None and returncode < 0:
        signum = -returncode
    elif returncode is not None and returncode > 128:
        signum = returncode - 128
    if signum == signal.SIGXCPU:
        return "timeout", "CPU-time limit reached (SIGXCPU)"
    if returncode == 0 and verdict == f"PASS {nonce}":
        return "pass", ""
    if verdict == f"FAIL {nonce}":
        return "fail", "a test assertion failed"
    if signum == signal.SIGXFSZ:
        return "error", "output or file size limit reached (SIGXFSZ)"
    if signum is not None:
        return "error", f"killed by signal {signal.Signals(signum).name}"
    return "error", f"exited with code {returncode} without passing its tests"


@dataclass(frozen=True)
class TestJob:
    """A solution judged by trusted tests (the `tests` mode of the bootstrap): the solution
    runs in the candidate process, `prelude` + `tests` and `check(<entry_point>)` in the
    harness process, and calls cross between them as plain data."""

    __test__ = False  # not a pytest test class

    solution: str
    """Untrusted code that defines `entry_point` (for HumanEval: prompt + completion)."""
    tests: str
    """Trusted test code defining `check(candidate)`."""
    entry_point: str
    """Name of the function under test."""
    prelude: str = ""
    """Trusted code run before the tests in the harness (HumanEval: the prompt, whose
    helper functions some tests call)."""


class _Box:
    """A fresh temporary directory for one run; removed on exit."""

    def __init__(self, cfg: SandboxConfig, files: dict[str, str], uid: int | None):
        self.path = Path(tempfile.mkdtemp(prefix="focusrl-box-", dir=cfg.tmp_root or None))
        self.path.chmod(0o711)
        self.work = self.path / "work"
        self.work.mkdir(mode=0o700)
        if uid is not None:
            os.chown(self.work, uid, uid)
        self.nonce = secrets.token_hex(16)
        for name, text in {**files, "nonce": self.nonce}.items():
            self.write(name, text)

    def write(self, name: str, text: str) -> None:
        """A root-only file (the candidate uid cannot read it)."""
        fd = os.open(self.path / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    def __enter__(self) -> _Box:
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _wait_exit(proc: subprocess.Popen, timeout_s: float) -> bool:
    """Wait for the child to exit; False on timeout. Uses a pidfd (Linux >= 5.3) because
    Popen.wait(timeout) polls with sleeps of up to 50 ms, a third of a short run."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            proc.wait(timeout=timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(timeout_s * 1000))
    finally:
        os.close(fd)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run_program(source: str, cfg: SandboxConfig | None = None) -> SandboxResult:
    """Run `source` (a whole Python program) in a fresh sandbox and classify the outcome.

    The program passes when it runs to its end; an AssertionError is a fail. The verdict
    is the program's own claim: to *judge* untrusted code use `run_tests`. Never raises
    for anything the program does; raises only for a bad config.
    """
    return _run({"program.py": source}, {"mode": "program"}, cfg or SandboxConfig())


def run_tests(job: TestJob, cfg: SandboxConfig | None = None) -> SandboxResult:
    """Judge `job.solution` with `job.tests` in a fresh sandbox: pass when `check` returns,
    fail on an AssertionError; the verdict comes from the harness process only."""
    files = {"program.py": job.solution, "tests.py": job.tests, "prelude.py": job.prelude}
    return _run(files, {"mode": "tests", "entry_point": job.entry_point},
                cfg or SandboxConfig())


def _run(files: dict[str, str], spec_extra: dict[str, str], cfg: SandboxConfig
         ) -> SandboxResult:
    python, stdlib_shared, prefix = pick_interpreter(cfg.python)
    level = effective_isolation(cfg.isolation)
    drop = cfg.drop_privileges and os.geteuid() == 0 and stdlib_shared
    if cfg.drop_privileges and not drop:
        warn_once("uid", "SANDBOX RUNS WITHOUT A PRIVILEGE DROP: " + (
            "not root" if os.geteuid() else f"no interpreter whose stdlib another uid can "
            f"read (tried {python})") + "; the candidate and the test harness share this "
            "uid (RLIMIT_NPROC counts all its processes, and native code could inspect the "
            "harness process). See docs/rewards.md.")
    slots = _slots(cfg.uid_base)
    uid = slots.acquire() if drop else None
    harness_uid = None if uid is None else uid + SLOTS
    start = time.monotonic()
    try:
        box_dir = JAIL_BOX if level == "jail" else None
        spec = {**spec_extra, **asdict(cfg.limits),
                "uid": "-" if uid is None else uid,
                "harness_uid": "-" if harness_uid is None else harness_uid,
                "guard": int(cfg.guard), "block_network": int(level == "none")}
        with _Box(cfg, files, uid) as box:
            inner = box_dir or str(box.path)
            spec["workdir"] = f"{inner}/work"
            box.write("spec", "".join(f"{k}={v}\n" for k, v in spec.items()))
            out_path, err_path, res_path = (box.path / n for n in ("stdout", "stderr", "result"))
            with open(out_path, "wb") as out, open(err_path, "wb") as err, \
                    open(res_path, "w+b") as res:
                if level == "jail":
                    cmd = [*jail_command(str(box.path), BOOTSTRAP, prefix),
                           os.path.realpath(python), "-I", "-S", "-B", JAIL_BOOTSTRAP]
                else:
                    cmd = [python, "-I", "-S", "-B", BOOTSTRAP]
                    if level == "namespace":
                        cmd = [shutil.which("unshare") or "unshare", *UNSHARE_ARGS, *cmd]
                cmd += [inner, str(res.fileno())]
                proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=box.work,
                    env=_scrubbed_env(f"{inner}/work"), start_new_session=True,
                    pass_fds=(res.fileno(),),
                )
                timed_out = not _wait_exit(proc, cfg.limits.wall_seconds)
                _kill_group(proc.pid)  # leftovers (daemons) die with the run
                proc.wait()
                if uid is not None:
                    _kill_uid(uid)
                    _kill_uid(harness_uid)  # type: ignore[arg-type]
                res.seek(0)
                verdict = res.read(256).decode("ascii", errors="replace").strip()
            status, detail = classify(proc.returncode, verdict, box.nonce, timed_out)
            stderr_tail = _tail(err_path, cfg.tail_bytes)
            if status == "error" and stderr_tail.strip():
                detail += ": " + stderr_tail.strip().splitlines()[-1][:200]
            return SandboxResult(status, proc.returncode, stderr_tail,
                                 _tail(out_path, cfg.tail_bytes),
                                 time.monotonic() - start, detail)
    finally:
        if uid is not None:
            slots.release(uid)


def _kill_uid(uid: int, patience_s: float = 10.0) -> None:
    """SIGKILL every process of the sandbox uid (also ones that escaped the group with
    setsid) and wait until they are gone, so the uid slot is clean when reused. A dying
    PID namespace takes a moment to reap its processes."""
    deadline = time.monotonic() + patience_s
    while (pids := processes_of_uid(uid)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


class SandboxPool:
    """Runs programs in parallel, `workers` at a time (threads that each drive a child
    process; the host's threads only wait, so they are cheap)."""

    def __init__(self, cfg: SandboxConfig | None = None):
        self.cfg = cfg or SandboxConfig()
        self.cfg.validate()
        self._executor = ThreadPoolExecutor(self.cfg.workers, thread_name_prefix="sandbox")

    def run(self, source: str) -> SandboxResult:
        return run_program(source, self.cfg)

    def run_many(self, jobs: Sequence[str | TestJob]) -> list[SandboxResult]:
        """Results in input order: a str is a whole program, a TestJob a judged solution."""
        def one(job: str | TestJob) -> SandboxResult:
            if isinstance(job, TestJob):
                return run_tests(job, self.cfg)
            return run_program(job, self.cfg)

        return list(self._executor.map(one, jobs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
