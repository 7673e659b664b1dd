"""The sandbox runs programs, classifies outcomes, and contains hostile programs."""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import tempfile
import textwrap
import threading

import pytest

from focusrl.rewards.sandbox import (
    SandboxConfig,
    SandboxLimits,
    SandboxPool,
    namespaces_available,
    run_program,
)
from focusrl.rewards.sandbox.isolation import processes_of_uid
from focusrl.rewards.sandbox.runner import classify

# Generous wall clocks: the CPU is shared, and a loaded machine must not turn a verdict
# into a timeout. Tests of the limits themselves set their own.
FAST = SandboxConfig(limits=SandboxLimits(cpu_seconds=2, wall_seconds=20.0))
NO_GUARD = SandboxConfig(limits=SandboxLimits(cpu_seconds=2, wall_seconds=20.0), guard=False)
# The documented fallback where namespaces are unavailable: the guard blocks sockets.
NO_NAMESPACES = SandboxConfig(limits=SandboxLimits(cpu_seconds=2, wall_seconds=20.0),
                              isolation="none")
IS_ROOT = os.geteuid() == 0


def _run(src: str, cfg: SandboxConfig = FAST):
    return run_program(textwrap.dedent(src), cfg)


def _no_sandbox_processes_left() -> bool:
    base = FAST.uid_base
    return all(not processes_of_uid(uid) for uid in range(base, base + 256))


@pytest.mark.parametrize(
    ("returncode", "verdict", "timed_out", "status"),
    [
        (0, "PASS n", False, "pass"),
        (0, "", False, "error"),  # os._exit(0) before the tests: no verdict
        (1, "FAIL n", False, "fail"),
        (1, "PASS x", False, "error"),  # wrong nonce
        (-9, "", True, "timeout"),
        (128 + signal.SIGXCPU, "", False, "timeout"),
        (-signal.SIGXFSZ, "", False, "error"),
    ],
)
def test_classify_maps_exit_and_verdict_to_status(returncode, verdict, timed_out, status):
    assert classify(returncode, verdict, "n", timed_out)[0] == status


def test_passing_failing_and_crashing_programs_get_their_status():
    assert _run("assert sum([1, 2]) == 3").status == "pass"
    failed = _run("assert sum([1, 2]) == 4")
    assert failed.status == "fail" and "AssertionError" in failed.stderr_tail
    crashed = _run("raise ValueError('boom')")
    assert crashed.status == "error" and "ValueError: boom" in crashed.stderr_tail
    assert _run("def f(:\n  pass").status == "error"


def test_exiting_early_is_not_a_pass():
    assert _run("import sys; sys.exit(0)\nassert False").status == "error"
    assert _run("import os; os._exit(0)\nassert False").status == "error"


def test_program_gets_a_fresh_writable_workdir_and_scrubbed_env(monkeypatch):
    monkeypatch.setenv("FOCUSRL_SECRET", "hunter2")
    res = _run("""
        import os
        open("scratch.txt", "w").write("ok")
        assert open("scratch.txt").read() == "ok"
        assert "FOCUSRL_SECRET" not in os.environ
        print(os.getcwd())
    """)
    assert res.status == "pass", res.stderr_tail
    assert not os.path.exists(res.stdout_tail.strip())  # removed afterwards


def test_infinite_loop_hits_the_cpu_limit():
    res = _run("while True:\n    pass")
    assert res.status == "timeout" and "CPU-time" in res.detail


def test_sleeping_forever_hits_the_wall_clock_limit():
    cfg = SandboxConfig(limits=SandboxLimits(cpu_seconds=2, wall_seconds=1.0))
    res = _run("import time\ntime.sleep(100)", cfg)
    assert res.status == "timeout" and "wall-clock" in res.detail
    assert 1.0 <= res.wall_seconds < 15.0


@pytest.mark.parametrize("guard", [True, False], ids=["guard", "os-layers-only"])
def test_fork_bomb_is_contained_and_leaves_no_process(guard):
    cfg = SandboxConfig(limits=SandboxLimits(cpu_seconds=2, wall_seconds=3.0), guard=guard)
    res = _run("""
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """, cfg)
    assert res.status in ("timeout", "error")
    assert _no_sandbox_processes_left()


def test_daemon_that_escapes_with_setsid_is_killed():
    res = _run("""
        import os, time
        if os.fork() == 0:
            os.setsid()
            time.sleep(60)
        print("parent done")
    """)
    assert res.status == "pass"
    assert _no_sandbox_processes_left()


@pytest.mark.parametrize("program", [
    "x = bytearray(8 << 30)",
    "chunks = []\nwhile True:\n    chunks.append(bytearray(50 << 20))",
])
def test_memory_bomb_fails_with_memory_error(program):
    limits = SandboxLimits(cpu_seconds=20, wall_seconds=60.0, memory_bytes=256 << 20)
    res = _run(program, SandboxConfig(limits=limits))
    assert res.status == "error" and "MemoryError" in res.stderr_tail


@pytest.mark.parametrize("cfg", [FAST, NO_GUARD], ids=["guard", "os-layers-only"])
def test_writing_outside_the_workdir_is_refused(cfg):
    if cfg is NO_GUARD and not IS_ROOT:
        pytest.skip("without the guard only the privilege drop (needs root) refuses writes")
    with tempfile.TemporaryDirectory() as outside:
        os.chmod(outside, 0o755)
        target = os.path.join(outside, "pwned.txt")
        res = _run(f"open({target!r}, 'w').write('pwned')", cfg)
        # refused (guard, uid) or, in the jail, the host directory is not there at all
        assert res.status == "error"
        assert "PermissionError" in res.stderr_tail or "FileNotFoundError" in res.stderr_tail
        assert not os.path.exists(target)


class _Listener:
    """A TCP listener on 127.0.0.1 that records whether anyone connected."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connected.set()
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.mark.parametrize("cfg", [FAST, NO_GUARD, NO_NAMESPACES],
                         ids=["guard", "os-layers-only", "fallback-without-namespaces"])
def test_network_connection_to_a_host_listener_fails(cfg):
    if cfg is NO_GUARD and not namespaces_available():
        pytest.skip("without the guard only a network namespace blocks sockets")
    listener = _Listener()
    try:
        res = _run(f"""
            import socket
            s = socket.create_connection(("127.0.0.1", {listener.port}), timeout=2)
            s.sendall(b"exfiltrated")
        """, cfg)
        assert res.status == "error" and "Error" in res.stderr_tail
        assert not listener.connected.is_set()
    finally:
        listener.close()


@pytest.mark.parametrize("cfg", [FAST, NO_GUARD, NO_NAMESPACES],
                         ids=["guard", "os-layers-only", "fallback-without-namespaces"])
def test_signalling_the_host_does_not_harm_it(cfg):
    host = os.getpid()
    res = _run(f"""
        import os, signal
        for target in ({host}, os.getppid()):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError as e:
                print("refused", e)
        os.killpg(os.getpgid({host}), signal.SIGKILL)
    """, cfg)
    assert os.getpid() == host  # we are still here
    assert res.status in ("error", "fail", "timeout")


def test_gigabytes_of_output_are_cut_at_the_file_size_limit():
    res = _run("""
        import sys
        chunk = "x" * (1 << 20)
        for _ in range(4096):
            sys.stdout.write(chunk)
    """)
    assert res.status == "error" and "File too large" in res.detail
    assert len(res.stdout_tail) <= FAST.tail_bytes


def _humaneval(shared_data):
    with gzip.open(shared_data / "humaneval" / "HumanEval.jsonl.gz", "rt") as f:
        return [json.loads(line) for line in f]


def _job(task: dict, body: str):
    from focusrl.rewards.code_exec import humaneval_job

    return humaneval_job(task["prompt"], task["prompt"], body, task["test"],
                         task["entry_point"])


def test_all_canonical_humaneval_solutions_pass_and_broken_ones_fail(shared_data):
    """Judged as the code reward judges them: solution and tests in two processes."""
    tasks = _humaneval(shared_data)
    assert len(tasks) == 164
    with SandboxPool(SandboxConfig(workers=2)) as pool:
        good = pool.run_many([_job(t, t["canonical_solution"]) for t in tasks])
        broken = pool.run_many([_job(t, "    return None") for t in tasks])
    failing = [(t["task_id"], r.detail, r.stderr_tail[-300:])
               for t, r in zip(tasks, good) if not r.passed]
    assert failing == []
    wrongly_passing = [t["task_id"] for t, r in zip(tasks, broken) if r.passed]
    assert wrongly_passing == []
    assert sum(r.status == "fail" for r in broken) >= 150  # mostly assertion failures


@pytest.mark.parametrize("isolation", ["auto", "namespace", "none"])
def test_judged_solutions_at_every_isolation_level(isolation):
    if isolation == "namespace" and not namespaces_available():
        pytest.skip("no namespaces here")
    from focusrl.rewards.sandbox import TestJob, run_tests

    cfg = SandboxConfig(limits=SandboxLimits(cpu_seconds=2, wall_seconds=20.0),
                        isolation=isolation)
    tests = "def check(c):\n    assert c(2) == (4, [2.5, None], {'k': {1}})\n"
    good = "def f(x):\n    return (x * 2, [x + 0.5, None], {'k': {x - 1}})\n"
    equal = "class E:\n    def __eq__(s, o): return True\ndef f(x):\n    return E()\n"
    assert run_tests(TestJob(good, tests, "f"), cfg).status == "pass"
    assert run_tests(TestJob("def f(x):\n    return 0\n", tests, "f"), cfg).status == "fail"
    assert run_tests(TestJob(equal, tests, "f"), cfg).status == "error"
    spin = run_tests(TestJob("def f(x):\n    while True: pass\n", tests, "f"), cfg)
    assert spin.status == "timeout"
    missing = run_tests(TestJob("def g(x):\n    return x\n", tests, "f"), cfg)
    assert missing.status == "error" and "does not define a function 'f'" in missing.detail


def test_weaker_isolation_is_announced_once_and_loudly(monkeypatch):
    from focusrl.rewards.sandbox import isolation

    monkeypatch.setattr(isolation, "jail_available", lambda: False)
    monkeypatch.setattr(isolation, "_warned", set())
    with pytest.warns(RuntimeWarning, match="WEAKER THAN THE JAIL.*private file-system"):
        got = isolation.effective_isolation("auto")
    assert got in ("namespace", "none")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isolation.effective_isolation("auto") == got  # said once only
    with pytest.raises(RuntimeError, match="bubblewrap"):
        isolation.effective_isolation("jail")
