"""Hostile solutions judged by the sandbox: each scores 0 and leaves no trace on the host.

The attacks (hostile_programs.py) run as one parallel batch per configuration (module
fixtures), with the guard and with only the OS layers (the jail, namespaces, the uid
drop and the harness split); each test then checks one attack's verdict. Host-side
checks run after each batch: no marker file in /tmp, /dev/shm or /var/tmp, nothing
received by a Unix-socket, abstract-socket, TCP or UDP listener, no process of a sandbox
uid or with the marker in its command line, no box left behind. Control tests show the
attacks have teeth: the same programs pass where a protection is removed.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import json
import os
import secrets
import socket
import tempfile
import threading

import pytest
from hostile_programs import ATTACKS  # tests/rewards/ (pytest puts it on sys.path)

from focusrl.rewards.code_exec import humaneval_job
from focusrl.rewards.sandbox import (
    SandboxConfig,
    SandboxLimits,
    SandboxPool,
    TestJob,
    effective_isolation,
    run_program,
)
from focusrl.rewards.sandbox.isolation import SLOTS, processes_of_uid

TESTS = "def check(candidate):\n    assert candidate(2, 3) == 5\n" \
        "    assert candidate(-1, 1) == 0\n    assert candidate(10, 20) == 30\n"
JAIL = effective_isolation("auto") == "jail"
# CI installs bubblewrap (scripts/setup.sh, as root): there a missing jail is a failure
needs_jail = pytest.mark.skipif(not JAIL and not os.environ.get("CI"),
                                reason="needs the bubblewrap jail (root + bwrap)")


class Listeners:
    """Host-side listeners an attack might reach; `received` collects what arrived."""

    def __init__(self, mark: str):
        self.received: list[bytes] = []
        self.sock_path = os.path.join(tempfile.gettempdir(), f"{mark}.sock")
        unix = socket.socket(socket.AF_UNIX)
        unix.bind(self.sock_path)
        os.chmod(self.sock_path, 0o777)
        abstract = socket.socket(socket.AF_UNIX)
        abstract.bind(f"\0{mark}-abstract")
        tcp = socket.socket()
        tcp.bind(("127.0.0.1", 0))
        self.port = tcp.getsockname()[1]
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", self.port))
        self.socks = [unix, abstract, tcp]
        for s in self.socks:
            s.listen(8)
            s.settimeout(0.1)
        udp.settimeout(0.1)
        self.udp = udp
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            for s in self.socks:
                try:
                    conn, _ = s.accept()
                except OSError:
                    continue
                conn.settimeout(0.5)
                try:
                    self.received.append(conn.recv(100) or b"<connected>")
                except OSError:
                    self.received.append(b"<connected>")
                conn.close()
            with contextlib.suppress(OSError):
                self.received.append(self.udp.recv(100))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for s in [*self.socks, self.udp]:
            s.close()
        os.unlink(self.sock_path)


def _host_traces(mark: str, box_root: str, uid_base: int) -> list[str]:
    found = [p for d in ("/tmp", "/dev/shm", "/var/tmp") for p in glob.glob(f"{d}/{mark}-*")]
    found += [f"box left: {p}" for p in os.listdir(box_root)]
    found += [f"process of uid {u}" for u in range(uid_base, uid_base + 2 * SLOTS)
              if processes_of_uid(u)]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if mark.encode() in f.read():
                    found.append(f"process {pid} mentions the marker")
        except OSError:
            pass
    return found


@contextlib.contextmanager
def _planted_secret():
    """A world-readable host file (in a world-searchable directory) holding "gold"."""
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        path = os.path.join(d, "gold.txt")
        with open(path, "w") as f:
            f.write("gold")
        os.chmod(path, 0o644)
        yield path


def _run_suite(guard: bool, monkeypatch_env: dict[str, str]) -> dict:
    mark = f"focusrl-hostile-{secrets.token_hex(4)}"
    listeners = Listeners(mark)
    os.environ.update(monkeypatch_env)
    try:
        with tempfile.TemporaryDirectory() as box_root, _planted_secret() as secret:
            # 4 workers on 2 cores: several attacks only sleep until the wall clock
            limits = SandboxLimits(cpu_seconds=2, wall_seconds=5.0, memory_bytes=512 << 20)
            cfg = SandboxConfig(limits=limits, guard=guard, workers=4, tmp_root=box_root)
            names = list(ATTACKS)
            jobs = [TestJob(ATTACKS[n].replace("@MARK@", mark)
                            .replace("@SOCK@", listeners.sock_path)
                            .replace("@PORT@", str(listeners.port))
                            .replace("@SECRET@", secret), TESTS, "add")
                    for n in names]
            with SandboxPool(cfg) as pool:
                results = dict(zip(names, pool.run_many(jobs)))
            listeners.close()
            traces = _host_traces(mark, box_root, cfg.uid_base)
    finally:
        for k in monkeypatch_env:
            os.environ.pop(k, None)
    return {"results": results, "received": listeners.received, "traces": traces}


@pytest.fixture(scope="module", params=[True, False], ids=["guard", "os-layers-only"])
def suite(request):
    return _run_suite(request.param, {"FOCUSRL_HOSTILE_SECRET": "hunter2"})


@needs_jail
def test_there_are_at_least_40_attacks_and_the_jail_is_there():
    assert len(ATTACKS) >= 40
    assert JAIL, "bubblewrap is missing or cannot create namespaces; run scripts/setup.sh"


@needs_jail
@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_scores_zero(suite, name):
    res = suite["results"][name]
    assert not res.passed, f"{name} passed: {res.stdout_tail[-300:]} {res.stderr_tail[-300:]}"


@needs_jail
def test_attacks_leave_nothing_on_the_host(suite):
    assert suite["traces"] == []
    assert suite["received"] == []


@needs_jail
def test_the_honest_solution_passes_under_the_same_config():
    cfg = SandboxConfig(limits=SandboxLimits(cpu_seconds=2, wall_seconds=20.0))
    with SandboxPool(cfg) as pool:
        good, = pool.run_many([TestJob("def add(x, y):\n    return x + y\n", TESTS, "add")])
    assert good.passed, good.stderr_tail


# ---- controls: the attacks work where the protection they target is missing
def test_control_always_equal_object_passes_a_single_process_harness():
    program = ATTACKS["always_equal_object"] + "\n" + TESTS + "\ncheck(add)\n"
    assert run_program(program).passed  # same interpreter: the comparison is fooled


def test_control_frame_walk_forges_the_whole_program_verdict():
    # the program's own frames hold the bootstrap's nonce: program mode is not a judge
    attack = """
import os, sys
f = sys._getframe()
while f is not None:
    if "nonce" in f.f_locals and "result_fd" in f.f_locals:
        os.write(f.f_locals["result_fd"], f"PASS {f.f_locals['nonce']}\\n".encode())
        os._exit(0)
    f = f.f_back
"""
    assert run_program(attack + "assert False\n").passed


def test_control_host_files_are_visible_without_the_jail():
    cfg = SandboxConfig(isolation="none", limits=SandboxLimits(cpu_seconds=5,
                                                                wall_seconds=20.0))
    with _planted_secret() as secret:
        attack = ATTACKS["read_planted_host_file"].replace("@SECRET@", secret)
        assert run_program(attack + "\nassert add(2, 3) == 5\n", cfg).passed


# ---- the same attack classes against real HumanEval tasks
HUMANEVAL_ATTACKS = {
    "always_equal": "class E:\n    def __eq__(self, o): return True\n"
                    "    def __ne__(self, o): return False\n"
                    "def ENTRY(*a, **k):\n    return E()\n",
    "forge_verdict": "import os\nfor fd in range(3, 64):\n    try:\n"
                     "        os.write(fd, b'PASS\\n')\n    except OSError:\n        pass\n"
                     "os._exit(0)\n",
    "gold_from_host": """
import gzip, json, os
SOLUTION = None
for root, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
    if "HumanEval.jsonl.gz" in files:
        for line in gzip.open(os.path.join(root, "HumanEval.jsonl.gz"), "rt"):
            t = json.loads(line)
            if t["entry_point"] == "ENTRY":
                SOLUTION = t["prompt"] + t["canonical_solution"]
        break
if SOLUTION:
    exec(SOLUTION)
else:
    def ENTRY(*a, **k):
        return None
""",
    "tests_from_box": """
import glob
for p in glob.glob("/box/*.py") + glob.glob("../*.py"):
    try:
        print(open(p).read())
    except OSError:
        pass
def ENTRY(*a, **k):
    return None
""",
    "settrace": "import sys\nsys.settrace(lambda f, e, a: None)\n"
                "def ENTRY(*a, **k):\n    return None\n",
}


@needs_jail
def test_attacks_on_humaneval_tasks_score_zero(shared_data):
    with gzip.open(shared_data / "humaneval" / "HumanEval.jsonl.gz", "rt") as f:
        tasks = [json.loads(line) for line in f][::20]  # 9 tasks across the set
    jobs, names = [], []
    for t in tasks:
        for name, src in HUMANEVAL_ATTACKS.items():
            jobs.append(humaneval_job(t["prompt"], "", src.replace("ENTRY", t["entry_point"]),
                                      t["test"], t["entry_point"]))
            names.append(f"{t['task_id']}:{name}")
    cfg = SandboxConfig(limits=SandboxLimits(cpu_seconds=3, wall_seconds=20.0), workers=2)
    with SandboxPool(cfg) as pool:
        results = pool.run_many(jobs)
    assert [n for n, r in zip(names, results) if r.passed] == []
