"""How the file tools open what they read and write: beneath the working directory.

:meth:`ToolContext.resolve_path` is the friendly first check (it names the problem); the
open that follows does not trust it. Paths inside the working directory are opened with
:func:`moco.safety.beneath.open_beneath`, so a symlink or directory swapped in after the
check cannot send a read or a write outside; files are read and written through the fd
that was opened. Writes refuse files with more than one hard link (the other names may be
outside) and anything but regular files (a FIFO would hang the tool), and refuse the
names that decide what the next run trusts (:data:`~moco.sandbox.base.PROTECTED_NAMES`)
unless a permission rule allows that path.

With ``--allow-outside`` a path outside the working directory is opened as it is: the user
allowed it.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from moco.errors import ToolError
from moco.safety.beneath import ESCAPE, fd_path, make_dirs_beneath, open_beneath, open_root
from moco.sandbox.base import PROTECTED_NAMES
from moco.tools.context import ToolContext

#: ``ctx.state`` key: paths (relative to the working directory) whose protection a
#: permission rule lifted for this session (set by the permission layer)
PROTECTED_ALLOWED_KEY = "protected_paths_allowed"
#: inside ``.git`` only these decide what runs; the rest stays writable for git itself
GIT_PROTECTED = ("hooks", "config")

_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


@dataclass(frozen=True, slots=True)
class Located:
    """``path``: absolute (as :meth:`ToolContext.resolve_path` resolved it, for messages);
    ``relative``: the path to open beneath the working directory, ``None`` for a path
    outside that ``--allow-outside`` admits."""

    path: Path
    relative: str | None


def check_nul(path: str) -> None:
    if "\0" in path:
        raise ToolError("the path contains a NUL byte (\\0), which no file name can hold; "
                        "pass the path without it")


def locate(ctx: ToolContext, path: str) -> Located:
    check_nul(path)
    try:
        resolved = ctx.resolve_path(path)
    except (OSError, RuntimeError) as error:  # a link changed while realpath read it
        raise ToolError(f"{path} changed while it was being checked ({error}); "
                        "try again") from None
    raw = Path(os.path.expanduser(path))
    if not raw.is_absolute():
        return Located(resolved, raw.as_posix())
    if raw.is_relative_to(ctx.working_dir):
        return Located(resolved, raw.relative_to(ctx.working_dir).as_posix())
    if resolved.is_relative_to(ctx.working_dir):  # reached through an alias of a parent
        return Located(resolved, resolved.relative_to(ctx.working_dir).as_posix())
    return Located(resolved, None)


def failure(ctx: ToolContext, path: str, error: OSError) -> ToolError:
    """The message for an ``OSError`` of an open."""
    code = error.errno
    if code == ESCAPE:
        return ToolError(
            f"{path} leads outside the working directory {ctx.working_dir} (through a "
            "symlink or '..'); use a path inside it (the user can allow outside paths with "
            "--allow-outside)")
    messages = {
        errno.ENOENT: f"{path} does not exist",
        errno.ENOTDIR: f"{path}: a part of the path is not a directory",
        errno.EISDIR: f"{path} is a directory",
        errno.ELOOP: f"{path}: too many symlinks, or a link moco does not follow",
        errno.EACCES: f"{path}: permission denied",
        errno.EPERM: f"{path}: permission denied",
        errno.ENXIO: f"{path} is not a regular file",
    }
    return ToolError(messages.get(code or 0, f"{path}: {error.strerror or error}"))


def _open_located(ctx: ToolContext, where: Located, flags: int, mode: int = 0o666) -> int:
    if where.relative is None:
        return os.open(where.path, flags, mode)
    root = open_root(ctx.working_dir)
    try:
        return open_beneath(root, where.relative, flags, mode)
    except OSError as error:
        if error.errno != ESCAPE or not ctx.allow_outside:
            raise
        return os.open(where.path, flags, mode)  # the user allowed outside paths
    finally:
        os.close(root)


def open_read(ctx: ToolContext, path: str, *, directory: bool = False) -> tuple[int, Path]:
    """An fd for reading ``path`` (a regular file or a directory, in blocking mode) and the
    path to show."""
    where = locate(ctx, path)
    try:
        fd = _open_located(ctx, where, _READ | (os.O_DIRECTORY if directory else 0))
    except OSError as error:
        if directory and error.errno == errno.ENOTDIR and where.path.exists():
            raise ToolError(f"{path} is not a directory") from None
        raise failure(ctx, path, error) from None
    kind = os.fstat(fd).st_mode
    if not (stat.S_ISREG(kind) or stat.S_ISDIR(kind)):
        os.close(fd)
        raise ToolError(f"{path} is not a regular file (a device, socket or FIFO); "
                        "it cannot be read as text")
    os.set_blocking(fd, True)
    return fd, where.path


# --------------------------------------------------------------------------- protection


def protected_entry(relative: str) -> str | None:
    """The protected name ``relative`` (a path inside the working directory) falls under,
    or ``None``: ``.moco/profiles/x.yaml`` -> ``.moco``, ``.git/hooks/pre-commit`` ->
    ``.git/hooks``, ``src/AGENTS.md`` -> ``None`` (only the top level is read)."""
    parts = PurePosixPath(posixpath.normpath(relative)).parts
    if not parts or parts[0] not in PROTECTED_NAMES:
        return None
    if parts[0] == ".git":
        if len(parts) > 1 and parts[1] in GIT_PROTECTED:
            return f".git/{parts[1]}"
        return None
    return parts[0]


def _inside(ctx: ToolContext, absolute: str | None) -> str | None:
    if absolute is None:
        return None
    path = Path(absolute)
    return path.relative_to(ctx.working_dir).as_posix() if path.is_relative_to(
        ctx.working_dir) else None


def refuse_protected(ctx: ToolContext, tool: str, relative: str | None) -> None:
    """Raise when a write to ``relative`` would change what the next run trusts and no
    permission rule allowed that path."""
    if relative is None:
        return
    relative = posixpath.normpath(relative)
    entry = protected_entry(relative)
    if entry is None:
        return
    allowed = ctx.state.get(PROTECTED_ALLOWED_KEY)
    if isinstance(allowed, list | set | frozenset) and relative in allowed:
        return
    raise ToolError(
        f"{relative} is protected: {entry} decides what the next run of moco (or git) "
        f"trusts, so {tool} does not change it unless a permission rule allows that path — "
        f"the user can add to profile.yaml or $MOCO_HOME/config.yaml: "
        f"permissions: {{{tool}: {{'{relative}': allow}}}}")


# --------------------------------------------------------------------------- writing


def open_write(
    ctx: ToolContext, path: str, tool: str, *, before: Callable[[Path], None] | None = None,
    read: bool = False, create: bool = True,
) -> tuple[int, Path, bool]:
    """An fd for overwriting ``path`` (made when missing and ``create``, with its parent
    directories; also readable when ``read``), the path to show, and whether it existed.
    ``before`` gets the path once the checks passed, before anything is made. The file is
    not truncated yet."""
    where = locate(ctx, path)
    refuse_protected(ctx, tool, where.relative)
    refuse_protected(ctx, tool, _inside(ctx, str(where.path)))
    if where.path.is_dir():
        raise ToolError(f"{path} is a directory")
    if before is not None:
        before(where.path)
    access = (os.O_RDWR if read else os.O_WRONLY) | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd, existed = _open_for_write(ctx, where, access, create)
    except OSError as error:
        raise failure(ctx, path, error) from None
    try:
        _check_writable(ctx, path, tool, fd)
    except BaseException:
        os.close(fd)
        raise
    return fd, where.path, existed


def _check_writable(ctx: ToolContext, path: str, tool: str, fd: int) -> None:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise ToolError(f"{path} is not a regular file; it cannot be written as text")
    if info.st_nlink > 1:
        raise ToolError(
            f"{path} has {info.st_nlink} hard links: writing it would change the same file "
            "under its other names too (which may be outside the working directory), so "
            "it is refused — to change only this name, copy it first (cp f f.new && mv "
            "f.new f)")
    refuse_protected(ctx, tool, _inside(ctx, fd_path(fd)))  # where it really is


def _open_for_write(
    ctx: ToolContext, where: Located, access: int, create: bool
) -> tuple[int, bool]:
    if where.relative is None:
        if create:
            where.path.parent.mkdir(parents=True, exist_ok=True)
        return _open_leaf(str(where.path.parent), where.path.name, access, create, None)
    parent_rel, leaf = posixpath.split(where.relative)
    if leaf in ("", ".", ".."):
        raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), where.relative)
    root = open_root(ctx.working_dir)
    try:
        try:
            if create:
                make_dirs_beneath(root, parent_rel)
            parent = open_beneath(root, parent_rel, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as error:
            if error.errno != ESCAPE or not ctx.allow_outside:
                raise
            if create:
                where.path.parent.mkdir(parents=True, exist_ok=True)
            return _open_leaf(str(where.path.parent), where.path.name, access, create, None)
        try:
            return _open_leaf(parent, leaf, access, create, (root, where.relative))
        finally:
            os.close(parent)
    finally:
        os.close(root)


def _open_leaf(
    parent: int | str, leaf: str, access: int, create: bool, beneath: tuple[int, str] | None
) -> tuple[int, bool]:
    """Open ``leaf`` in ``parent`` for writing without following a symlink there; a symlink
    is followed only beneath the root (``beneath``), an existing file is reused, a missing
    one made exclusively (a file appearing meanwhile is retried)."""
    dir_fd = parent if isinstance(parent, int) else None
    name = leaf if dir_fd is not None else os.path.join(str(parent), leaf)
    for _ in range(3):
        try:
            return os.open(name, access | _NOFOLLOW, dir_fd=dir_fd), True
        except FileNotFoundError:
            if not create:
                raise
        except OSError as error:
            if error.errno != errno.ELOOP:
                raise
            if beneath is None:  # outside, as the user allowed: follow the link
                return os.open(name, access | (os.O_CREAT if create else 0), 0o666), True
            root, relative = beneath
            try:
                return open_beneath(root, relative, access), True
            except FileNotFoundError:  # a dangling link inside: make its target
                if not create:
                    raise
                return open_beneath(root, relative, access | os.O_CREAT, 0o666), False
        try:
            flags = access | os.O_CREAT | os.O_EXCL | _NOFOLLOW
            return os.open(name, flags, 0o666, dir_fd=dir_fd), False
        except FileExistsError:
            continue
    raise OSError(errno.EAGAIN, "the file kept changing while it was opened", leaf)


def write_all(fd: int, data: bytes) -> None:
    """Replace the content of the file open at ``fd`` with ``data``."""
    os.set_blocking(fd, True)
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
