"""Open files beneath a directory without letting a link or ``..`` lead out of it.

Checking a path first and opening it afterwards leaves a gap: a symlink swapped in between
sends the write elsewhere. Here the check *is* the open: on Linux ``openat2(2)`` with
``RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`` (the kernel refuses any step — ``..``, an
absolute symlink, a relative one climbing too far — that leaves the directory, with
``EXDEV``); elsewhere, or where a seccomp filter hides ``openat2``, a walk that opens one
component at a time with ``O_NOFOLLOW`` relative to the directory fd before it, reading
symlinks itself and keeping the fds of the directories it passed, so ``..`` goes back to a
directory it really came through.

Symlinks that stay inside are followed (real repositories have them); every failure is an
``OSError`` (``EXDEV`` for an escape), never a partial result.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import sys
from collections import deque
from typing import Any

__all__ = ["ESCAPE", "fd_path", "make_dirs_beneath", "open_beneath", "open_root",
           "openat2_available"]

#: the errno of a path that leads outside
ESCAPE = errno.EXDEV

_SYS_OPENAT2 = 437  # the same number on x86_64 and aarch64 (and every generic-table arch)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_BENEATH = 0x08
_MAX_LINKS = 40  # as the kernel (MAXSYMLINKS)
_RETRIES = 8  # openat2 answers EAGAIN when a rename raced the lookup
_O_PATH = getattr(os, "O_PATH", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


class _OpenHow(ctypes.Structure):
    _fields_ = (("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64))


_syscall: Any = None
_available: bool | None = None


def _libc_syscall() -> Any:
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "aarch64", "arm64"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_long
    function.argtypes = (ctypes.c_long, ctypes.c_int, ctypes.c_char_p,
                         ctypes.POINTER(_OpenHow), ctypes.c_size_t)
    return function


def _openat2(dir_fd: int, path: str, flags: int, mode: int) -> int:
    assert _syscall is not None
    how = _OpenHow(flags | _O_CLOEXEC, mode if flags & os.O_CREAT else 0,
                   _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS)
    for _ in range(_RETRIES):
        fd = int(_syscall(_SYS_OPENAT2, dir_fd, os.fsencode(path), ctypes.byref(how),
                          ctypes.sizeof(how)))
        if fd >= 0:
            return fd
        code = ctypes.get_errno()
        if code not in (errno.EAGAIN, errno.EINTR):
            raise OSError(code, os.strerror(code), path)
    raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), path)


def openat2_available() -> bool:
    """Whether ``openat2`` works here (probed once: missing on old kernels, ``ENOSYS`` or
    ``EPERM`` under some seccomp filters)."""
    global _syscall, _available
    if _available is None:
        _syscall = _libc_syscall()
        _available = False
        if _syscall is not None and _O_PATH:
            root = os.open("/", _O_PATH | _O_DIRECTORY | _O_CLOEXEC)
            try:
                os.close(_openat2(root, ".", _O_PATH, 0))
                _available = True
            except OSError:
                _available = False
            finally:
                os.close(root)
    return _available


def open_root(directory: str | os.PathLike[str]) -> int:
    """An fd of ``directory`` to open paths beneath (the caller closes it)."""
    return os.open(directory, (_O_PATH or os.O_RDONLY) | _O_DIRECTORY | _O_CLOEXEC)


def open_beneath(root_fd: int, path: str, flags: int, mode: int = 0o666, *,
                 force_walk: bool = False) -> int:
    """``os.open(path, flags, mode)`` resolved beneath ``root_fd``; symlinks inside are
    followed (a final one too, unless ``flags`` has ``O_NOFOLLOW``). An absolute ``path``,
    or one leading out, raises ``OSError(EXDEV)``; a NUL byte raises ``ValueError``."""
    if "\0" in path:
        raise ValueError("embedded null byte")
    if path.startswith("/"):
        raise OSError(ESCAPE, "an absolute path is not beneath the directory", path)
    if not force_walk and openat2_available():
        return _openat2(root_fd, path or ".", flags, mode)
    return _walk_open(root_fd, path, flags, mode)


def _split(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def _walk_open(root_fd: int, path: str, flags: int, mode: int) -> int:
    """The portable form of ``openat2(RESOLVE_BENEATH)``: one component at a time."""
    follow_last = not flags & _O_NOFOLLOW
    todo = deque(_split(path))
    stack: list[int] = []  # fds of the directories passed below the root
    links = 0
    try:
        while todo:
            name = todo.popleft()
            here = stack[-1] if stack else root_fd
            if name == "..":
                if not stack:
                    raise OSError(ESCAPE, "the path climbs out of the directory", path)
                os.close(stack.pop())
                continue
            last = not todo
            try:
                if last:
                    return os.open(name, flags | _O_NOFOLLOW | _O_CLOEXEC, mode, dir_fd=here)
                stack.append(os.open(name, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW
                                     | _O_CLOEXEC, dir_fd=here))
                continue
            except OSError as error:
                if error.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK) or (
                        last and not follow_last):
                    raise
                target = _link_target(name, here, error)
            links += 1
            if links > _MAX_LINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            if target.startswith("/"):
                raise OSError(ESCAPE, "a symlink leads out of the directory", path)
            todo.extendleft(reversed(_split(target)))
        # nothing left, or the path ended in "..": the directory reached itself
        return os.open(".", flags | _O_CLOEXEC, mode, dir_fd=stack[-1] if stack else root_fd)
    finally:
        for fd in stack:
            os.close(fd)


def _link_target(name: str, dir_fd: int, error: OSError) -> str:
    """What the symlink ``name`` points to; ``error`` again when it is no symlink."""
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError:
        raise error from None


def make_dirs_beneath(root_fd: int, path: str) -> None:
    """``mkdir -p path`` beneath ``root_fd`` (mode 0777 & ~umask): each directory is made
    through an fd of its parent opened beneath, so no link can send it elsewhere."""
    parts = _split(path)
    for index in range(len(parts)):
        prefix = "/".join(parts[: index + 1])
        try:
            os.close(open_beneath(root_fd, prefix, os.O_RDONLY | _O_DIRECTORY))
            continue
        except FileNotFoundError:
            pass
        parent = open_beneath(root_fd, "/".join(parts[:index]), os.O_RDONLY | _O_DIRECTORY)
        try:
            os.mkdir(parts[index], dir_fd=parent)
        except FileExistsError:
            pass  # made meanwhile (or a dangling link: the next open says which)
        finally:
            os.close(parent)
        os.close(open_beneath(root_fd, prefix, os.O_RDONLY | _O_DIRECTORY))


def fd_path(fd: int) -> str | None:
    """Where an open fd really is (``/proc/self/fd``), or ``None`` when that cannot be known."""
    try:
        found = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    return found if found.startswith("/") and not found.endswith(" (deleted)") else None
