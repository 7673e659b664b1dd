"""Hostile solutions for the sandbox suite (tests/rewards/test_hostile.py).

Each attack is the body of a solution module for the task `add(x, y) -> x + y`. None
solves the task honestly: every one returns a wrong answer unless its attack works (it
reads what it must not, forges the verdict, fools the comparison, ...), so a pass is a
successful attack. `@MARK@` is replaced by a per-run marker that host-side checks look
for (files in /tmp and /dev/shm, processes, sockets); `@SOCK@` and `@PORT@` by the host's
listeners; `@SECRET@` by a world-readable host file holding "gold". Classes (issue 13):
verdict forging, tracing hooks, always-equal objects, reading tests or gold data, host
effects (files, sockets, processes, /proc), leaks to other boxes, resource exhaustion and
early exits.
"""

from __future__ import annotations

WRONG = "def add(x, y):\n    return x - y\n"

ATTACKS: dict[str, str] = {
    # --- verdict forging: the verdict lives in another process, on an fd it never had
    "forge_pass_on_every_fd": WRONG + """
import os
for fd in range(3, 256):
    for text in (b"PASS\\n", b"PASS 0\\n"):
        try:
            os.write(fd, text)
        except OSError:
            pass
""",
    "frame_walk_for_nonce_and_fd": WRONG + """
import sys, os
f = sys._getframe()
while f is not None:
    for k, v in list(f.f_locals.items()) + list(f.f_globals.items()):
        if "nonce" in str(k) or k == "result_fd":
            for fd in range(3, 64):
                try:
                    os.write(fd, f"PASS {v}\\n".encode())
                except OSError:
                    pass
    f = f.f_back
""",
    "read_nonce_file": WRONG + """
import os, glob
for path in glob.glob("/box/*") + glob.glob("../*") + glob.glob("/tmp/focusrl-box-*/*"):
    try:
        nonce = open(path).read().strip()
    except OSError:
        continue
    for fd in range(3, 64):
        try:
            os.write(fd, f"PASS {nonce}\\n".encode())
        except OSError:
            pass
""",
    "exit_0_before_tests": WRONG + "import os\nos._exit(0)\n",
    "sys_exit_inside_call": "def add(x, y):\n    import sys\n    sys.exit(0)\n",
    "exit_0_inside_call": "def add(x, y):\n    import os\n    os._exit(0)\n",
    "print_fake_pass": WRONG + "print('PASS')\nprint('All tests passed')\n",
    "reopen_harness_fds_via_proc": WRONG + """
import os
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    for fd in range(0, 64):
        try:
            with open(f"/proc/{pid}/fd/{fd}", "w") as f:
                f.write("PASS x\\n")
        except OSError:
            pass
""",
    # --- tracing hooks replacing the test function
    "settrace_rewrites_check": WRONG + """
import sys
def tracer(frame, event, arg):
    if frame.f_code.co_name == "check":
        frame.f_locals["candidate"] = lambda *a: True
    return tracer
sys.settrace(tracer)
""",
    "setprofile_swallows_assert": WRONG + """
import sys
sys.setprofile(lambda frame, event, arg: None)
import builtins
builtins.AssertionError = type("AssertionError", (Exception,), {})
""",
    "patch_builtins_and_modules": WRONG + """
import builtins, sys
builtins.abs = lambda x: 0
builtins.isinstance = lambda *a: True
sys.modules["math"] = None
""",
    # --- objects that compare equal to anything
    "always_equal_object": """
class E:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __hash__ = object.__hash__
def add(x, y):
    return E()
""",
    "always_equal_int_subclass": """
class I(int):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __hash__ = int.__hash__
def add(x, y):
    return I(0)
""",
    "always_equal_str_subclass": """
class S(str):
    def __eq__(self, other): return True
    __hash__ = str.__hash__
def add(x, y):
    return S("")
""",
    "repr_lies": """
class R:
    def __repr__(self): return "5"
def add(x, y):
    return R()
""",
    "nan_self_unequal_tricks": "def add(x, y):\n    return float('nan')\n",
    "generator_return": "def add(x, y):\n    return (i for i in range(3))\n",
    "raise_assertion_named_exception": """
def add(x, y):
    raise StopIteration("stop the test early")
""",
    # --- reading the tests or the gold data
    "read_tests_from_gc": WRONG + """
import gc
answers = {}
for o in gc.get_objects():
    if isinstance(o, dict) and "check" in o:
        answers["found"] = o
def add(x, y):
    if answers:
        return x + y
    return x - y
""",
    "read_tests_from_box_files": """
import glob
found = []
for path in glob.glob("/box/*.py") + glob.glob("../*.py"):
    try:
        found.append(open(path).read())
    except OSError:
        pass
def add(x, y):
    return x + y if any("check" in t for t in found) else x - y
""",
    "read_gold_dataset_from_host": """
import os
paths = ["/work/shared/data", "/work/main", "/root", "/home"]
seen = [p for p in paths if os.path.exists(p)]
for root, dirs, files in os.walk("/"):
    if any(f.endswith(".jsonl.gz") or f == "HumanEval.jsonl.gz" for f in files):
        seen.append(root)
    dirs[:] = [d for d in dirs if d not in ("proc", "sys")]
def add(x, y):
    return x + y if seen else x - y
""",
    "read_planted_host_file": """
try:
    GOLD = open("@SECRET@").read()
except OSError:
    GOLD = ""
def add(x, y):
    return x + y if GOLD == "gold" else x - y
""",
    "read_host_proc": """
import os
cmdlines = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            cmdlines.append(open(f"/proc/{pid}/cmdline", "rb").read())
        except OSError:
            pass
def add(x, y):
    return x + y if any(b"pytest" in c for c in cmdlines) else x - y
""",
    "read_harness_memory": """
import os
ok = False
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        for name in ("mem", "environ", "maps"):
            try:
                open(f"/proc/{pid}/{name}", "rb").read(64)
                ok = ok or name == "mem"
            except OSError:
                pass
def add(x, y):
    return x + y if ok else x - y
""",
    "ptrace_the_harness": """
ok = False
try:
    import ctypes, os
    libc = ctypes.CDLL(None)
    ok = libc.ptrace(16, os.getppid(), 0, 0) == 0
except Exception:
    pass
def add(x, y):
    return x + y if ok else x - y
""",
    "read_host_environment": """
import os
def add(x, y):
    return x + y if "FOCUSRL_HOSTILE_SECRET" in os.environ else x - y
""",
    "see_other_boxes": """
import glob
others = glob.glob("/tmp/focusrl-box-*") + glob.glob("/tmp/*/work")
def add(x, y):
    return x + y if others else x - y
""",
    # --- host effects: files, sockets, processes
    "shell_writes_tmp_and_shm": WRONG + """
import subprocess
subprocess.run(["/bin/sh", "-c", "echo pwned > /tmp/@MARK@-sh; echo pwned > /dev/shm/@MARK@-sh"])
""",
    "os_system_writes_tmp": WRONG + "import os\n"
        "os.system('touch /tmp/@MARK@-system /var/tmp/@MARK@-system')\n",
    "python_writes_tmp_and_shm": WRONG + """
for path in ("/tmp/@MARK@-py", "/dev/shm/@MARK@-py", "/var/tmp/@MARK@-py"):
    try:
        open(path, "w").write("pwned")
    except OSError:
        pass
""",
    "child_python_writes_tmp": WRONG + """
import subprocess, sys
subprocess.run([sys.executable, "-c", "open('/tmp/@MARK@-child', 'w').write('x')"])
""",
    "unix_socket_to_host": WRONG + """
import socket
s = socket.socket(socket.AF_UNIX)
s.connect("@SOCK@")
s.sendall(b"@MARK@")
""",
    "abstract_unix_socket_to_host": WRONG + """
import socket
s = socket.socket(socket.AF_UNIX)
s.connect("\\0@MARK@-abstract")
s.sendall(b"@MARK@")
""",
    "tcp_to_host": WRONG + """
import socket
s = socket.create_connection(("127.0.0.1", @PORT@), timeout=2)
s.sendall(b"@MARK@")
""",
    "udp_to_host": WRONG + """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"@MARK@", ("127.0.0.1", @PORT@))
""",
    "shell_netcat_to_host": WRONG + """
import subprocess
subprocess.run(["/bin/sh", "-c", "echo @MARK@ > /dev/tcp/127.0.0.1/@PORT@"], timeout=3)
""",
    "daemon_writes_later": WRONG + """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(1.5)
        open("/tmp/@MARK@-daemon", "w").write("late")
    os._exit(0)
""",
    "signal_every_process": WRONG + """
import os, signal
try:
    os.kill(-1, signal.SIGKILL)
except OSError:
    pass
""",
    "signal_the_harness": WRONG + """
import os, signal
for pid in range(1, 64):
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGSTOP)
        except OSError:
            pass
""",
    "tamper_with_box_files": WRONG + """
import os
for name in ("tests.py", "prelude.py", "spec", "nonce", "result"):
    for base in ("/box", ".."):
        try:
            open(os.path.join(base, name), "w").write("def check(c): pass\\n")
        except OSError:
            pass
        try:
            os.replace("x", os.path.join(base, name))
        except OSError:
            pass
""",
    "symlink_out_of_box": WRONG + """
import os
try:
    os.symlink("/box/tests.py", "t.py")
    print(open("t.py").read())
except OSError:
    pass
""",
    # --- resources and early exits
    "fork_bomb": WRONG + """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
""",
    "memory_bomb": WRONG + "chunks = []\nwhile True:\n    chunks.append(bytearray(64 << 20))\n",
    "cpu_spin_in_call": "def add(x, y):\n    while True:\n        pass\n",
    "sleep_in_call": "def add(x, y):\n    import time\n    time.sleep(600)\n",
    "huge_return_value": "def add(x, y):\n    return list(range(10 ** 7))\n",
    "deeply_nested_return": """
def add(x, y):
    v = []
    for _ in range(100000):
        v = [v]
    return v
""",
    "output_flood": WRONG + "import sys\nwhile True:\n    sys.stdout.write('x' * (1 << 20))\n",
    "fd_exhaustion": WRONG + """
import os
fds = []
while True:
    try:
        fds.append(os.open("/dev/null", os.O_RDONLY))
    except OSError:
        break
""",
}
