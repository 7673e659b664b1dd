"""The first code that runs inside a sandbox (executed as `python -I -S -B <this file>
<box> <result fd>`, inside the jail when there is one). Standard library only; it must
not import focusrl.

Two modes (the spec's `mode`):
- `program`: one untrusted program; it passes when it runs to its end. Its verdict is
  the program's own claim (a program can always claim success), so this mode is for
  programs, not for judging them.
- `tests`: the candidate solution and the trusted tests run in two processes. The
  bootstrap forks *before* reading the tests: the child reads only the solution, drops to
  the candidate uid and serves calls to the entry point over a pipe; the parent reads
  the prelude and tests, drops to a different uid (the harness uid) and runs
  `check(candidate)` with a proxy whose calls cross the pipe as plain, tagged JSON data
  (None, bool, int, float, str, bytes, list, tuple, dict, set, frozenset, complex),
  decoded and type-checked on the harness side. Only the harness holds the verdict fd,
  so frames, trace hooks, always-equal objects or the harness's locals are out of the
  candidate's reach.

The verdict goes to the file descriptor named by argv[2] as `PASS <nonce>` or
`FAIL <nonce>`; a run that exits early never writes it and is not a pass.
"""

import os
import resource
import sys

# No re or traceback at start-up: importing them costs ~25 ms per run (json: ~10 ms, and
# only the tests mode, which needs it, imports it).
MAX_MESSAGE = 16 << 20
"""Largest message (one JSON line) either side accepts."""
MAX_DEPTH = 200
"""Deepest nesting of a value that crosses the pipe."""


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _read_spec(path: str) -> dict[str, str]:
    """`key=value` lines (written by runner)."""
    return dict(line.split("=", 1) for line in _read(path).splitlines() if line)


def _set_limits(spec: dict[str, str], nproc: bool = True) -> None:
    cpu, mem, fsize = (int(spec[k]) for k in ("cpu_seconds", "memory_bytes", "file_bytes"))
    pairs = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_AS: (mem, mem),
        resource.RLIMIT_FSIZE: (fsize, fsize),
        resource.RLIMIT_NOFILE: (int(spec["open_files"]),) * 2,
        resource.RLIMIT_CORE: (0, 0),
    }
    if nproc:
        pairs[resource.RLIMIT_NPROC] = (int(spec["processes"]),) * 2
    for which, value in pairs.items():
        resource.setrlimit(which, value)


def _drop_privileges(uid: str) -> None:
    if uid == "-":
        return
    os.setgroups([])
    os.setgid(int(uid))
    os.setuid(int(uid))


def _fork_if_namespace_init() -> None:
    """PID 1 of a namespace ignores default-action signals (SIGXCPU, SIGXFSZ): run the
    program in a child, wait for it and exit with its status (128 + signal if killed).
    (Under bubblewrap, bwrap itself is PID 1 and this does nothing.)"""
    if os.getpid() != 1:
        return
    child = os.fork()
    if child == 0:
        return
    while True:
        pid, status = os.wait()
        if pid == child:
            break
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


_PATH_EVENTS = {
    "os.remove": 1, "os.rmdir": 1, "os.mkdir": 1, "os.rename": 2, "os.chmod": 1,
    "os.chown": 1, "os.truncate": 1, "os.utime": 1, "shutil.rmtree": 1, "os.chflags": 1,
}
_DENIED = {"os.symlink", "os.link", "os.killpg", "ctypes.dlopen", "ctypes.dlsym",
           "ctypes.dlsym/handle", "os.setuid", "os.setgid", "sys.setprofile", "sys.settrace"}
_NETWORK = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"}


def _install_guard(workdir: str, block_network: bool) -> None:
    """An audit hook (PEP 578): a guard against accidents and naive hostility, not a
    security boundary (the OS layers and the process split are); it refuses writes
    outside `workdir`, links, signals to other processes, ctypes, tracing hooks and
    (when there is no network namespace) sockets."""
    root = os.path.realpath(workdir)
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    me = os.getpid()

    def inside(path: object) -> bool:
        if isinstance(path, int):
            return True
        try:
            real = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return real == root or real.startswith(root + os.sep) or real == os.devnull

    def deny(what: str) -> None:
        raise PermissionError(f"sandbox: {what} is not allowed")

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
                isinstance(flags, int) and flags & write_flags)
            if writes and not inside(path):
                deny(f"writing {path!r} outside the working directory")
        elif event in _PATH_EVENTS:
            for path in args[: _PATH_EVENTS[event]]:
                if not inside(path):
                    deny(f"{event} on {path!r} outside the working directory")
        elif event in _DENIED:
            deny(event)
        elif event == "os.kill" and args[0] not in (me, os.getpid()):
            deny(f"signalling process {args[0]}")
        elif block_network and event in _NETWORK:
            deny(f"network access ({event})")

    sys.addaudithook(hook)


def _print_traceback(e: BaseException) -> None:
    """The traceback without this file's own frame."""
    import traceback

    tb = e.__traceback__.tb_next if e.__traceback__ else None
    traceback.print_exception(type(e), e, tb)


def _flush() -> None:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001, S110 - output may be closed or over its limit
        pass


def _exec(source: str, namespace: dict) -> None:
    exec(compile(source, "<program>", "exec"), namespace)  # noqa: S102


# ---------------------------------------------------------------- the wire (tests mode)
# Messages are length-prefixed (4 bytes, big-endian). Harness -> candidate: marshal of
# (args, kwargs), trusted data the candidate may parse as it likes. Candidate -> harness:
# the repr of a tree of finite floats, ints, strs, bools, None and lists only, read with
# ast.literal_eval (a parser, never code) and rebuilt by `decode`, which checks every node.
# Tags: ["t", items] tuple, ["d", [k, v, ...]] dict, ["s", items] set, ["f", items]
# frozenset, ["b", latin-1 str] bytes, ["c", re, im] complex, ["x", "nan"|"inf"|"-inf"]
# float, ["l", items] list; a bare str, int, finite float, bool or None is itself.
# Exact types only: subclasses (an int whose __eq__ is always True) are refused.
_FINITE_TYPES = (type(None), bool, int, str)
_SPECIAL = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


def encode(v: object, depth: int = 0) -> object:
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    t = type(v)
    if t in _FINITE_TYPES:
        return v
    if t is float:
        return v if v - v == 0 else ["x", repr(v)]  # type: ignore[operator]
    if t is list or t is tuple or t is set or t is frozenset:
        tag = {list: "l", tuple: "t", set: "s", frozenset: "f"}[t]
        return [tag, [encode(x, depth + 1) for x in v]]  # type: ignore[union-attr]
    if t is dict:
        flat: list = []
        for k, x in v.items():  # type: ignore[union-attr]
            flat += [encode(k, depth + 1), encode(x, depth + 1)]
        return ["d", flat]
    if t is bytes:
        return ["b", v.decode("latin-1")]  # type: ignore[union-attr]
    if t is complex:
        return ["c", encode(v.real, depth), encode(v.imag, depth)]  # type: ignore[union-attr]
    raise TypeError(f"a value of type {t.__name__} cannot cross the sandbox boundary "
                    "(plain data only: None, bool, int, float, str, bytes, list, tuple, "
                    "dict, set, frozenset, complex)")


def decode(v: object, depth: int = 0) -> object:
    """Rebuild a value from its tagged tree, checking every node (the harness side)."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    t = type(v)
    if t in _FINITE_TYPES or t is float:
        return v
    if t is not list or not v or type(v[0]) is not str:  # type: ignore[index]
        raise ValueError(f"malformed value: {str(v)[:80]}")
    tag, body = v[0], v[1:]  # type: ignore[index]
    if tag == "x" and len(body) == 1 and body[0] in _SPECIAL:
        return _SPECIAL[body[0]]
    if tag == "b" and len(body) == 1 and type(body[0]) is str:
        return body[0].encode("latin-1")
    if tag == "c" and len(body) == 2:
        re_im = [decode(x, depth + 1) for x in body]
        if all(type(x) is float for x in re_im):
            return complex(*re_im)  # type: ignore[arg-type]
    if len(body) == 1 and type(body[0]) is list:
        items = [decode(x, depth + 1) for x in body[0]]
        if tag == "l":
            return items
        if tag == "t":
            return tuple(items)
        if tag == "s":
            return set(items)
        if tag == "f":
            return frozenset(items)
        if tag == "d" and len(items) % 2 == 0:
            return dict(zip(items[::2], items[1::2]))
    raise ValueError(f"malformed value: {str(v)[:80]}")


def _send(fd: int, payload: bytes) -> None:
    data = len(payload).to_bytes(4, "big") + payload
    while data:
        data = data[os.write(fd, data):]


def _receive(fd: int) -> bytes | None:
    """One message, or None when the other side is gone or breaks the framing."""
    head = _read_exact(fd, 4)
    if head is None or int.from_bytes(head, "big") > MAX_MESSAGE:
        return None
    return _read_exact(fd, int.from_bytes(head, "big"))


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class CandidateBroken(BaseException):  # noqa: N818 - not an Exception: tests cannot catch it
    """The candidate process died, hung up, or answered with something that is not plain
    data. A BaseException, so a test's `except Exception` cannot turn it into a pass."""


def _serve(source: str, entry_point: str, rfd: int, wfd: int) -> None:
    """Candidate side: run the solution, then answer calls until the pipe closes."""
    import marshal

    def send(*msg: object) -> None:
        _send(wfd, repr(list(msg)).encode())

    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        _exec(source, namespace)
        fn = namespace.get(entry_point)
        if not callable(fn):
            raise NameError(f"the solution does not define a function {entry_point!r}")
    except BaseException as e:  # noqa: BLE001 - reported to the harness
        _print_traceback(e)
        send("load_error", f"{type(e).__name__}: {e}"[:2000])
        return
    send("ready")
    while (request := _receive(rfd)) is not None:
        args, kwargs = marshal.loads(request)
        try:
            value = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - the harness re-raises it
            send("raise", type(e).__name__, str(e)[:2000])
            continue
        try:
            reply = encode(value)
        except (TypeError, ValueError) as e:
            send("bad_value", str(e)[:2000])
            continue
        send("ok", reply)


class _Candidate:
    """Harness side: a callable that forwards each call to the candidate process."""

    def __init__(self, entry_point: str, rfd: int, wfd: int):
        import ast
        import marshal

        self._literal_eval, self._dumps = ast.literal_eval, marshal.dumps
        self.__name__ = entry_point
        self._r, self._w = rfd, wfd

    def receive(self) -> list:
        data = _receive(self._r)
        if data is None:
            raise CandidateBroken("the candidate process ended or broke the message framing")
        try:
            msg = self._literal_eval(data.decode("utf-8"))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as e:
            raise CandidateBroken(f"the candidate sent malformed data: {e}") from None
        if type(msg) is not list or not msg or type(msg[0]) is not str:
            raise CandidateBroken(f"the candidate sent malformed data: {data[:80]!r}")
        return msg

    def __call__(self, *args: object, **kwargs: object) -> object:
        try:
            _send(self._w, self._dumps((args, kwargs)))
        except OSError:
            raise CandidateBroken("the candidate process is gone") from None
        msg = self.receive()
        if msg[0] == "ok" and len(msg) == 2:
            try:
                return decode(msg[1])
            except (ValueError, TypeError, RecursionError, OverflowError) as e:
                raise CandidateBroken(f"the candidate returned malformed data: {e}") from None
        if msg[0] == "raise" and len(msg) == 3 and all(type(x) is str for x in msg[1:]):
            import builtins

            cls = getattr(builtins, msg[1], None)
            if not (isinstance(cls, type) and issubclass(cls, Exception)):
                cls = RuntimeError
            raise cls(f"(in the candidate) {msg[1]}: {msg[2]}")
        if msg[0] == "bad_value" and len(msg) == 2:
            raise CandidateBroken(f"the candidate returned a value that is not plain data: "
                                  f"{msg[1]}")
        raise CandidateBroken(f"the candidate sent an unexpected message: {str(msg)[:80]}")


def _killed_by_cpu_limit(child: int, patience_s: float = 0.5) -> bool:
    """Whether the candidate died of SIGXCPU (waits briefly for it to be reaped)."""
    import signal
    import time

    deadline = time.monotonic() + patience_s
    while time.monotonic() < deadline:
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU
        time.sleep(0.01)
    return False


def _run_tests(box: str, spec: dict[str, str], result_fd: int) -> None:
    """Fork the candidate (solution only), then judge it from this process."""
    h_read, c_write = os.pipe()  # candidate -> harness
    c_read, h_write = os.pipe()  # harness -> candidate
    child = os.fork()
    if child == 0:  # the candidate: never sees the tests, the nonce or the verdict fd
        for fd in (result_fd, h_read, h_write):
            os.close(fd)
        source = _read(os.path.join(box, "program.py"))
        _set_limits(spec)
        _drop_privileges(spec["uid"])
        os.chdir(spec["workdir"])
        if spec["guard"] == "1":
            _install_guard(spec["workdir"], spec["block_network"] == "1")
        try:
            _serve(source, spec["entry_point"], c_read, c_write)
        finally:
            _flush()
            os._exit(0)
    os.close(c_read)
    os.close(c_write)
    tests = _read(os.path.join(box, "tests.py"))
    prelude = _read(os.path.join(box, "prelude.py"))
    nonce = _read(os.path.join(box, "nonce")).strip()
    _set_limits(spec, nproc=False)
    _drop_privileges(spec["harness_uid"])
    os.chdir("/")
    verdict = "ERROR"
    candidate = _Candidate(spec["entry_point"], h_read, h_write)
    try:
        first = candidate.receive()
        if first[0] != "ready":
            raise CandidateBroken(f"the solution did not load: {str(first[1:])[:300]}")
        namespace = {"__name__": "__main__", "__builtins__": __builtins__}
        try:
            prelude_code = compile(prelude, "<prelude>", "exec")
        except SyntaxError:  # e.g. a chat-formatted prompt: the tests may not need it
            print("sandbox: the prelude (prompt) is not Python; running the tests without it",
                  file=sys.stderr)
            prelude_code = compile("", "<prelude>", "exec")
        exec(prelude_code, namespace)  # noqa: S102 - trusted (the data set's prompt)
        _exec(tests, namespace)
        namespace[spec["entry_point"]] = candidate
        check = namespace.get("check")
        if not callable(check):
            raise NameError("the tests define no check(candidate) function")
        check(candidate)
        verdict = "PASS"
    except AssertionError as e:
        _print_traceback(e)
        verdict = "FAIL"
    except CandidateBroken as e:
        _print_traceback(e)
        if _killed_by_cpu_limit(child):
            verdict = "TIMEOUT"
    except BaseException as e:  # noqa: BLE001 - every other outcome is an error verdict
        _print_traceback(e)
    _flush()
    os.write(result_fd, f"{verdict} {nonce}\n".encode())
    os.close(h_write)  # the candidate sees end of input and exits
    _reap(child)
    os._exit(0 if verdict == "PASS" else 1)


def _reap(child: int, patience_s: float = 0.2) -> None:
    """Wait briefly for the candidate to exit, so it does not linger as a zombie (the
    harness cannot signal it: another uid). What remains dies with the PID namespace
    (or is killed by the host by uid)."""
    import time

    deadline = time.monotonic() + patience_s
    while time.monotonic() < deadline:
        try:
            if os.waitpid(child, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            return
        time.sleep(0.002)


def _run_program(box: str, spec: dict[str, str], result_fd: int) -> None:
    source = _read(os.path.join(box, "program.py"))
    nonce = _read(os.path.join(box, "nonce")).strip()
    _set_limits(spec)
    _drop_privileges(spec["uid"])
    _fork_if_namespace_init()
    os.chdir(spec["workdir"])
    if spec["guard"] == "1":
        _install_guard(spec["workdir"], spec["block_network"] == "1")
    verdict = "ERROR"
    try:
        _exec(source, {"__name__": "__main__", "__builtins__": __builtins__})
        verdict = "PASS"
    except AssertionError as e:
        _print_traceback(e)
        verdict = "FAIL"
    except SystemExit as e:
        print(f"sandbox: program called exit({e.code!r}) before its tests finished",
              file=sys.stderr)
    except BaseException as e:  # noqa: BLE001 - every other outcome is an error verdict
        _print_traceback(e)
    _flush()
    if verdict != "ERROR":
        os.write(result_fd, f"{verdict} {nonce}\n".encode())
    os._exit(0 if verdict == "PASS" else 1)


def main() -> None:
    box, result_fd = sys.argv[1], int(sys.argv[2])
    spec = _read_spec(os.path.join(box, "spec"))
    if spec["mode"] == "tests":
        _fork_if_namespace_init()
        _run_tests(box, spec, result_fd)
    else:
        _run_program(box, spec, result_fd)


if __name__ == "__main__":
    main()
