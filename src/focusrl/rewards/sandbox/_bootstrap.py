"""The first code that runs inside a sandbox child (executed as `python -I -S -B <this file>
<box> <result fd>`). Standard library only; it must not import focusrl.

Order matters: read the spec and the program while still privileged, set resource
limits, drop to the sandbox uid, (as PID 1 of a fresh PID namespace) fork so the program
never runs as the namespace's init, install the in-process guard, then run the program.
The verdict goes to the file descriptor named by argv[2] as `PASS <nonce>` or
`FAIL <nonce>`: a program that exits early (`sys.exit(0)`, `os._exit(0)`) never writes
it and is not a pass.
"""

import os
import resource
import sys

# No json or traceback at start-up: importing them (re, ...) costs ~25 ms per run.


def _read_spec(path: str) -> dict[str, str]:
    """`key=value` lines (written by runner.write_spec)."""
    with open(path) as f:
        return dict(line.split("=", 1) for line in f.read().splitlines() if line)


def _set_limits(spec: dict[str, str]) -> None:
    cpu, mem, fsize = (int(spec[k]) for k in ("cpu_seconds", "memory_bytes", "file_bytes"))
    nproc, nofile = int(spec["processes"]), int(spec["open_files"])
    pairs = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_AS: (mem, mem),
        resource.RLIMIT_FSIZE: (fsize, fsize),
        resource.RLIMIT_NPROC: (nproc, nproc),
        resource.RLIMIT_NOFILE: (nofile, nofile),
        resource.RLIMIT_CORE: (0, 0),
    }
    for which, value in pairs.items():
        resource.setrlimit(which, value)


def _drop_privileges(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def _fork_if_namespace_init() -> None:
    """PID 1 of a namespace ignores default-action signals (SIGXCPU, SIGXFSZ): run the
    program in a child, wait for it and exit with its status (128 + signal if killed)."""
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
           "ctypes.dlsym/handle", "os.setuid", "os.setgid"}
_NETWORK = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"}


def _install_guard(workdir: str, block_network: bool) -> None:
    """An audit hook (PEP 578): a guard against accidents and naive hostility, not a
    security boundary (the OS layers are); it refuses writes outside `workdir`, links,
    signals to other processes, ctypes and (when no network namespace) sockets."""
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


def _print_program_traceback(e: BaseException) -> None:
    """The traceback without this file's own frame."""
    import traceback

    tb = e.__traceback__.tb_next if e.__traceback__ else None
    traceback.print_exception(type(e), e, tb)


def main() -> None:
    box, result_fd = sys.argv[1], int(sys.argv[2])
    spec = _read_spec(os.path.join(box, "spec"))
    with open(os.path.join(box, "program.py")) as f:
        source = f.read()
    nonce = spec["nonce"]
    _set_limits(spec)
    if spec["uid"] != "-":
        _drop_privileges(int(spec["uid"]), int(spec["gid"]))
    _fork_if_namespace_init()
    os.chdir(spec["workdir"])
    if spec["guard"] == "1":
        _install_guard(spec["workdir"], spec["block_network"] == "1")
    verdict = "ERROR"
    try:
        code = compile(source, "<program>", "exec")
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__})  # noqa: S102
        verdict = "PASS"
    except AssertionError as e:
        _print_program_traceback(e)
        verdict = "FAIL"
    except SystemExit as e:
        print(f"sandbox: program called exit({e.code!r}) before its tests finished",
              file=sys.stderr)
    except BaseException as e:  # noqa: BLE001 - every other outcome is an error verdict
        _print_program_traceback(e)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001, S110 - output may be closed or over its limit
        pass
    if verdict != "ERROR":
        os.write(result_fd, f"{verdict} {nonce}\n".encode())
    os._exit(0 if verdict == "PASS" else 1)


if __name__ == "__main__":
    main()
