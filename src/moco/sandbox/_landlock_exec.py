"""Run a command under Landlock: ``python -I -S _landlock_exec.py SPEC -- argv...``.

Standalone on purpose (only the standard library, run as a script, not imported through the
``moco`` package), so the wrapper starts fast. ``SPEC`` is JSON::

    {"read": [paths], "read_dirs": [paths], "write": [paths], "write_files": [paths],
     "network": true|false}

This process becomes a child subreaper and forks: the child restricts itself (no new
privileges, then a Landlock ruleset allowing reading (and running) beneath ``read``, listing
``read_dirs``, everything beneath ``write`` and writing the files ``write_files``; TCP bind and
connect denied when ``network`` is false and the kernel can) and execs the command. When the
command exits, this process kills every process it left behind (orphans are re-parented here)
and exits with the command's status.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import platform
import signal
import sys

SYSCALLS = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446), "arm64": (444, 445, 446)}
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _numbers() -> tuple[int, int, int] | None:
    if not sys.platform.startswith("linux"):
        return None
    return SYSCALLS.get(platform.machine())


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is not available."""
    numbers = _numbers()
    if numbers is None:
        return 0
    result = _libc().syscall(numbers[0], None, ctypes.c_size_t(0),
                             ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(int(result), 0)


def handled_fs(abi: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def restrict(spec: dict[str, object]) -> None:
    """Restrict this process (and what it execs) as ``spec`` says; raises OSError."""
    abi = abi_version()
    if abi < 1:
        raise OSError("Landlock is not available in this kernel")
    create, add_rule, restrict_self = _numbers() or (0, 0, 0)
    libc = _libc()
    fs = handled_fs(abi)
    attr = _RulesetAttr(fs, 0, 0)
    size = 8
    if abi >= 4 and not spec.get("network", True):
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
    ruleset = libc.syscall(create, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        reading = EXECUTE | READ_FILE | READ_DIR
        for key, rights in (("read", reading), ("read_dirs", READ_DIR), ("write", fs),
                            ("write_files", WRITE_FILE | READ_FILE | (fs & TRUNCATE))):
            for path in spec.get(key) or []:  # type: ignore[attr-defined]
                _add_rule(libc, add_rule, int(ruleset), str(path), rights & fs)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if libc.syscall(restrict_self, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(int(ruleset))


def _add_rule(libc: ctypes.CDLL, number: int, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # gone since the spec was made: nothing to allow
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS
        rule = _PathBeneathAttr(rights, fd)
        if libc.syscall(number, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH),
                        ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
    finally:
        os.close(fd)


def _children() -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/children") as handle:
                found += [int(pid) for pid in handle.read().split()]
        except OSError:
            continue
    return found


def _kill_leftovers() -> None:
    """Kill and reap every process still below this one (orphans come here)."""
    while True:
        for pid in _children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: _landlock_exec.py SPEC -- COMMAND...", file=sys.stderr)
        return 2
    spec, command = json.loads(argv[1]), argv[3:]
    libc = _libc()
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    pid = os.fork()
    if pid == 0:
        try:
            restrict(spec)
            os.execvp(command[0], command)
        except OSError as error:
            print(f"moco sandbox (landlock): {error}", file=sys.stderr)
            os._exit(126 if not isinstance(error, FileNotFoundError) else 127)

    def forward(number: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, number)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    _kill_leftovers()
    return os.waitstatus_to_exitcode(status) if status >= 0 else 1


if __name__ == "__main__":
    code = main(sys.argv)
    sys.exit(128 - code if code < 0 else code)
