"""File tools: read, write, edit, list, tree, info and glob — all confined to the working
directory: :meth:`ToolContext.resolve_path` checks a path, :mod:`moco.tools.confined` opens
it beneath the working directory (no link swapped in after the check leads out) and the tools
read, write and list through the opened descriptors.

The walking helpers here (:func:`walk`, :func:`walk_files`, :func:`glob_to_regex`,
:func:`is_noise_dir`) are shared with the search and code tools, so every tool skips the same
directories and visits files in the same order (``rg --sort path`` order).
"""

from __future__ import annotations

import codecs
import mimetypes
import os
import re
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from moco.errors import ToolError
from moco.tools.base import tool
from moco.tools.confined import check_nul, open_read, open_write, write_all
from moco.tools.context import ToolContext

#: directories that are never walked into (unless searched explicitly)
NOISE_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv",
        ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox", ".eggs",
        ".idea", ".gradle", ".next", ".nuxt", ".turbo", ".cache", ".terraform",
        "dist", "build", "target",
    }
)  # fmt: skip
NOISE_SUFFIXES = (".egg-info",)

DEFAULT_READ_LINES = 2000
MAX_LINE_CHARS = 2000
SNIFF_BYTES = 8192
MAX_LIST_ENTRIES = 500
MAX_TREE_ENTRIES = 500
MAX_GLOB_RESULTS = 200

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"%PDF", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x7fELF", "application/x-executable"),
)


def is_noise_dir(name: str) -> bool:
    return name in NOISE_DIRS or name.endswith(NOISE_SUFFIXES)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_SUBDIR_FLAGS = _DIR_FLAGS | getattr(os, "O_NOFOLLOW", 0)


def walk(
    root: Path, skip_dir: Callable[[str], bool] = is_noise_dir, *, root_fd: int | None = None
) -> Iterator[tuple[Path, bool]]:
    """``(path, is_dir)`` under ``root``, depth first, entries sorted by name (the order of
    ``rg --sort path``). Symlinks are not followed nor listed; unreadable directories are
    skipped. Subdirectories are entered through fds opened with ``O_NOFOLLOW``, so one
    swapped for a symlink meanwhile is not entered. ``root_fd``: ``root`` already open."""
    try:
        fd = os.open(root, _DIR_FLAGS) if root_fd is None else os.dup(root_fd)
    except OSError:
        return
    try:
        yield from _walk_fd(fd, root, skip_dir)
    finally:
        os.close(fd)


def _walk_fd(fd: int, here: Path, skip_dir: Callable[[str], bool]) -> Iterator[tuple[Path, bool]]:
    try:
        with os.scandir(fd) as found:
            entries = sorted(found, key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        if entry.is_symlink():
            continue
        if entry.is_dir(follow_symlinks=False):
            if skip_dir(entry.name):
                continue
            yield here / entry.name, True
            try:
                child = os.open(entry.name, _SUBDIR_FLAGS, dir_fd=fd)
            except OSError:
                continue
            try:
                yield from _walk_fd(child, here / entry.name, skip_dir)
            finally:
                os.close(child)
        elif entry.is_file(follow_symlinks=False):
            yield here / entry.name, False


def walk_files(root: Path, skip_dir: Callable[[str], bool] = is_noise_dir) -> Iterator[Path]:
    """Regular files under ``root`` (or ``root`` itself when it is a file), in walk order."""
    if root.is_file():
        yield root
        return
    for path, is_dir in walk(root, skip_dir):
        if not is_dir:
            yield path


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob to a regex matching whole ``/``-separated relative paths.

    ``**/`` matches any number of directories, ``*`` and ``?`` stay within one path segment,
    ``[abc]``/``[!abc]`` are character classes and ``{a,b}`` alternatives.
    """
    return re.compile(_glob_body(pattern) + r"\Z", re.DOTALL)


def _glob_body(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        end = -1
        if char in "[{":
            end = pattern.find("]" if char == "[" else "}", i + 2 if char == "[" else i + 1)
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and end > 0:
            body = pattern[i + 1 : end]
            negate = body[:1] in ("!", "^")
            body = re.escape(body[1:] if negate else body).replace(r"\-", "-")
            out.append(f"[{'^' if negate else ''}{body}]")
            i = end
        elif char == "{" and end > 0:
            options = pattern[i + 1 : end].split(",")
            out.append("(?:" + "|".join(_glob_body(option) for option in options) + ")")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def sniff_mime(path: Path, head: bytes) -> str:
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def looks_binary(head: bytes) -> bool:
    """True for NUL bytes or data that is neither UTF-8 nor mostly printable."""
    if b"\0" in head:
        return True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        controls = sum(1 for byte in head if byte < 32 and byte not in b"\t\n\r\f\b\x1b")
        return controls > len(head) // 10 or b"\xff\xfe" in head[:2]
    return False


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{int(value)}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{size}B"  # pragma: no cover


def _refuse_binary(ctx: ToolContext, path: Path, head: bytes, size: int) -> None:
    if looks_binary(head):
        mime = sniff_mime(path, head)
        raise ToolError(
            f"{ctx.display_path(path)} is a binary file ({mime}, {size} bytes); "
            "it cannot be shown as text"
        )


def _open_file(ctx: ToolContext, path: str) -> tuple[BinaryIO, Path]:
    """An existing file opened for reading beneath the working directory."""
    fd, resolved = open_read(ctx, path)
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise ToolError(f"{path} is a directory; use list_dir or tree")
    return os.fdopen(fd, "rb"), resolved


def _format_line(number: int, raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
    if len(text) > MAX_LINE_CHARS:
        text = f"{text[:MAX_LINE_CHARS]}... [line cut, {len(text)} chars]"
    return f"{number:>6}\t{text}"


def _count_lines(stream: BinaryIO) -> int:
    """Lines left in ``stream`` (a last line without a newline counts)."""
    count, tail = 0, b""
    while chunk := stream.read(1 << 20):
        count += chunk.count(b"\n")
        tail = chunk
    return count + (1 if tail and not tail.endswith(b"\n") else 0)


def _page(stream: BinaryIO, first: int, count: int, budget: int) -> tuple[list[str], int]:
    """Numbered lines from ``first`` (at most ``count``, within ``budget`` characters) and
    the total number of lines."""
    shown: list[str] = []
    used = 0
    number = 0
    for number, raw in enumerate(stream, 1):
        if number < first:
            continue
        line = _format_line(number, raw)
        if len(shown) >= count or (shown and used + len(line) > budget):
            return shown, number + _count_lines(stream)
        shown.append(line)
        used += len(line) + 1
    return shown, number


@tool(name="read_file", aliases=("read",))
def read_file(
    ctx: ToolContext, path: str, offset: int | None = None, limit: int | None = None
) -> str:
    """Read a text file; lines are numbered like `cat -n`. Long files are shown in pages.

    Args:
        path: File path, relative to the working directory.
        offset: First line to show (1-based); default 1.
        limit: Number of lines to show; default and maximum 2000.
    """
    first = 1 if offset is None else offset
    count = DEFAULT_READ_LINES if limit is None else min(limit, DEFAULT_READ_LINES)
    if first < 1 or count < 1:
        raise ToolError("offset and limit must be at least 1")
    stream, resolved = _open_file(ctx, path)
    with stream:
        size = os.fstat(stream.fileno()).st_size
        _refuse_binary(ctx, resolved, stream.read(SNIFF_BYTES), size)
        stream.seek(0)
        shown, total = _page(stream, first, count, ctx.max_output_chars)
    if total == 0:
        return f"{ctx.display_path(resolved)} is empty"
    if not shown:
        raise ToolError(f"offset {first} is past the end of the file ({total} lines)")
    last = first + len(shown) - 1
    if last < total:
        shown.append(f"(lines {first}-{last} of {total}; use offset={last + 1} to read more)")
    return "\n".join(shown)


@tool(name="write_file", aliases=("write",), mutates=True)
def write_file(ctx: ToolContext, path: str, content: str) -> str:
    """Create or overwrite a text file with the given content; parent directories are created.

    Args:
        path: File path, relative to the working directory.
        content: The complete new content of the file.
    """
    fd, resolved, existed = open_write(ctx, path, "write_file", before=ctx.on_file_change)
    data = content.encode("utf-8")
    try:
        write_all(fd, data)
    finally:
        os.close(fd)
    lines = content.count("\n") + (1 if content and not content.endswith("\n") else 0)
    verb = "overwrote" if existed else "created"
    return f"{verb} {ctx.display_path(resolved)} ({len(data)} bytes, {lines} lines)"


def _read_text_for_edit(ctx: ToolContext, resolved: Path, stream: BinaryIO) -> str:
    data = stream.read()
    _refuse_binary(ctx, resolved, data[:SNIFF_BYTES], len(data))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError(f"{ctx.display_path(resolved)} is not UTF-8 text; cannot edit it") from None


def _line_numbers(content: str, needle: str, limit: int = 5) -> list[int]:
    numbers: list[int] = []
    start = content.find(needle)
    while start >= 0 and len(numbers) < limit:
        numbers.append(content.count("\n", 0, start) + 1)
        start = content.find(needle, start + len(needle))
    return numbers


def _snippet(content: str, first_line: int, new_lines: int, context: int = 2) -> str:
    lines = content.split("\n")
    start = max(first_line - 1 - context, 0)
    end = min(first_line - 1 + new_lines + context, len(lines), start + 16)
    return "\n".join(f"{n + 1:>6}\t{lines[n]}" for n in range(start, end))


def _missing_message(ctx: ToolContext, resolved: Path, content: str, old: str) -> str:
    message = f"old_string was not found in {ctx.display_path(resolved)}."
    stripped = old.strip()
    if stripped and stripped != old and stripped in content:
        lines = _line_numbers(content, stripped, 1)
        message += f" A match ignoring surrounding whitespace exists at line {lines[0]}."
    return message + " Read the file again and copy the text exactly, including indentation."


@tool(name="edit_file", aliases=("edit",), mutates=True)
def edit_file(
    ctx: ToolContext, path: str, old_string: str, new_string: str, replace_all: bool = False
) -> str:
    """Replace exact text in a file. old_string must match exactly once unless replace_all.

    Args:
        path: File path, relative to the working directory.
        old_string: The exact text to replace, with enough context to be unique.
        new_string: The replacement text.
        replace_all: Replace every occurrence instead of exactly one.
    """
    if not old_string:
        raise ToolError("old_string is empty; use write_file to create or overwrite a file")
    if old_string == new_string:
        raise ToolError("old_string and new_string are the same; nothing to change")
    check_nul(path)
    if ctx.resolve_path(path).is_dir():
        raise ToolError(f"{path} is a directory; use list_dir or tree")
    fd, resolved, _ = open_write(ctx, path, "edit_file", read=True, create=False)
    with os.fdopen(fd, "r+b") as stream:
        return _edit(ctx, stream, resolved, old_string, new_string, replace_all)


def _edit(
    ctx: ToolContext, stream: BinaryIO, resolved: Path, old_string: str, new_string: str,
    replace_all: bool,
) -> str:
    """Edit the file open as ``stream`` (read and written through the same descriptor)."""
    content = _read_text_for_edit(ctx, resolved, stream)
    if old_string not in content and "\r\n" in content and "\r\n" not in old_string:
        old_string = old_string.replace("\n", "\r\n")
        new_string = new_string.replace("\n", "\r\n")
    matches = content.count(old_string)
    if matches == 0:
        raise ToolError(_missing_message(ctx, resolved, content, old_string))
    if matches > 1 and not replace_all:
        lines = ", ".join(str(n) for n in _line_numbers(content, old_string))
        raise ToolError(
            f"old_string matches {matches} times in {ctx.display_path(resolved)} "
            f"(lines {lines}{', ...' if matches > 5 else ''}); add surrounding context to "
            "make it unique, or set replace_all to replace every occurrence"
        )
    first_line = _line_numbers(content, old_string, 1)[0]
    updated = content.replace(old_string, new_string)
    if ctx.on_file_change is not None:
        ctx.on_file_change(resolved)
    stream.flush()
    write_all(stream.fileno(), updated.encode("utf-8"))
    what = f"{matches} occurrences" if matches > 1 else "1 occurrence"
    snippet = _snippet(updated, first_line, new_string.count("\n") + 1)
    return f"edited {ctx.display_path(resolved)}: replaced {what}\n{snippet}"


def _entries(dir_fd: int) -> list[os.DirEntry[str]]:
    """The entries of the directory open at ``dir_fd``, by name; none when unreadable."""
    try:
        with os.scandir(dir_fd) as found:
            return sorted(found, key=lambda entry: entry.name)
    except OSError:
        return []


def _entry_line(entry: os.DirEntry[str], dir_fd: int) -> tuple[bool, str]:
    """``(is_dir, text)`` for one directory entry (links are shown, never followed)."""
    try:
        if entry.is_symlink():
            return False, f"{entry.name}@ -> {os.readlink(entry.name, dir_fd=dir_fd)}"
        if entry.is_dir(follow_symlinks=False):
            return True, f"{entry.name}/"
        return False, f"{entry.name}  {human_size(entry.stat(follow_symlinks=False).st_size)}"
    except OSError:
        return False, entry.name


@tool(name="list_dir", aliases=("ls", "list"))
def list_dir(ctx: ToolContext, path: str = ".") -> str:
    """List a directory: subdirectories first (with a trailing /), then files with sizes.

    Args:
        path: Directory, relative to the working directory.
    """
    fd, resolved = _open_dir(ctx, path, "; use read_file or file_info")
    try:
        entries = sorted(_entry_line(entry, fd) for entry in _entries(fd))
    finally:
        os.close(fd)
    entries.sort(key=lambda item: not item[0])  # stable: directories first, each by name
    if not entries:
        return f"{ctx.display_path(resolved)}/ is empty"
    lines = [text for _, text in entries[:MAX_LIST_ENTRIES]]
    if len(entries) > MAX_LIST_ENTRIES:
        lines.append(f"... ({len(entries) - MAX_LIST_ENTRIES} more entries)")
    return "\n".join(lines)


@tool
def tree(ctx: ToolContext, path: str = ".", max_depth: int = 3) -> str:
    """Show the directory tree, skipping noise such as .git, node_modules, __pycache__, .venv.

    Args:
        path: Directory, relative to the working directory.
        max_depth: How many levels to expand (1-10).
    """
    fd, resolved = _open_dir(ctx, path)
    depth_limit = min(max(max_depth, 1), 10)
    lines = [f"{ctx.display_path(resolved)}/"]
    try:
        omitted = _tree_lines(fd, 1, depth_limit, lines)
    finally:
        os.close(fd)
    if omitted:
        lines.append(f"... ({omitted} more entries not shown)")
    return "\n".join(lines)


def _open_dir(ctx: ToolContext, path: str, hint: str = "") -> tuple[int, Path]:
    fd, resolved = open_read(ctx, path)
    if not stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise ToolError(f"{path} is not a directory{hint}")
    return fd, resolved


def _tree_lines(dir_fd: int, depth: int, limit: int, lines: list[str]) -> int:
    """Append the entries of the directory open at ``dir_fd`` to ``lines``; returns how
    many were left out."""
    omitted = 0
    for entry in _entries(dir_fd):
        if len(lines) > MAX_TREE_ENTRIES:
            omitted += 1
            continue
        indent = "  " * depth
        is_dir = entry.is_dir(follow_symlinks=False)
        if is_dir and is_noise_dir(entry.name):
            lines.append(f"{indent}{entry.name}/ [skipped]")
        elif is_dir:
            lines.append(f"{indent}{entry.name}/")
            if depth < limit:
                omitted += _subtree(dir_fd, entry.name, depth + 1, limit, lines)
        else:
            lines.append(f"{indent}{_entry_line(entry, dir_fd)[1]}")
    return omitted


def _subtree(dir_fd: int, name: str, depth: int, limit: int, lines: list[str]) -> int:
    try:
        child = os.open(name, _SUBDIR_FLAGS, dir_fd=dir_fd)
    except OSError:
        return 0
    try:
        return _tree_lines(child, depth, limit, lines)
    finally:
        os.close(child)


@tool
def file_info(ctx: ToolContext, path: str) -> str:
    """Show a file's or directory's type, size, modification time, permissions and line count.

    Args:
        path: Path, relative to the working directory.
    """
    fd, resolved = open_read(ctx, path)
    try:
        return _info(ctx, path, resolved, fd)
    finally:
        os.close(fd)


def _info(ctx: ToolContext, path: str, resolved: Path, fd: int) -> str:
    raw = Path(os.path.expanduser(path))
    unresolved = raw if raw.is_absolute() else ctx.working_dir / raw
    info = os.fstat(fd)
    modified = datetime.fromtimestamp(info.st_mtime, UTC).isoformat(timespec="seconds")
    lines = [f"path: {ctx.display_path(resolved)}"]
    if unresolved.is_symlink():
        lines.append(f"symlink to: {ctx.display_path(resolved)}")
    if stat.S_ISDIR(info.st_mode):
        lines.append(f"type: directory ({len(_entries(fd))} entries)")
    else:
        stream = os.fdopen(os.dup(fd), "rb")
        head = stream.read(SNIFF_BYTES)
        binary = looks_binary(head)
        kind = "binary" if binary else "text"
        lines.append(f"type: {kind} file ({sniff_mime(resolved, head)})")
        lines.append(f"size: {info.st_size} bytes ({human_size(info.st_size)})")
        if not binary:
            stream.seek(0)
            lines.append(f"lines: {_count_lines(stream)}")
        stream.close()
    lines.append(f"modified: {modified}")
    lines.append(f"permissions: {stat.filemode(info.st_mode)}")
    return "\n".join(lines)


@tool(aliases=("glob",))
def glob_search(ctx: ToolContext, pattern: str, path: str = ".") -> str:
    """Find files by glob pattern (e.g. `**/*.py`, `src/*.{ts,tsx}`), newest first.

    Args:
        pattern: Glob relative to path; `**/` matches any number of directories.
        path: Directory to search from, relative to the working directory.
    """
    if pattern.startswith(("/", "~")) or ".." in Path(pattern).parts:
        raise ToolError("pattern must be relative to path; pass the directory as path")
    regex = glob_to_regex(pattern.removeprefix("./"))
    named = set(re.split(r"[/\\]", pattern))  # noise dirs the pattern names are walked

    def skip(name: str) -> bool:
        return is_noise_dir(name) and name not in named

    root_fd, root = _open_dir(ctx, path)
    try:
        found = _glob_found(ctx, root, root_fd, regex, skip)
    finally:
        os.close(root_fd)
    if not found:
        return f"no files match {pattern!r}"
    found.sort()
    lines = [name for _, name in found[:MAX_GLOB_RESULTS]]
    if len(found) > MAX_GLOB_RESULTS:
        lines.append(f"... ({len(found) - MAX_GLOB_RESULTS} more; use a narrower pattern)")
    return "\n".join(lines)


def _glob_found(
    ctx: ToolContext, root: Path, root_fd: int, regex: re.Pattern[str],
    skip: Callable[[str], bool],
) -> list[tuple[float, str]]:
    found: list[tuple[float, str]] = []
    for entry, is_dir in walk(root, skip, root_fd=root_fd):
        relative = entry.relative_to(root).as_posix()
        if regex.match(relative):
            shown = ctx.display_path(entry) + ("/" if is_dir else "")
            try:
                found.append((-entry.stat().st_mtime, shown))
            except OSError:
                continue
        if ctx.is_cancelled:
            raise ToolError("cancelled")
    return found
