"""Content search: ``grep`` (Python regex) and ``ripgrep`` (``rg`` when installed).

Both give the same result for the same question: files are visited in ``rg --sort path``
order, noise directories (see :data:`moco.tools.filesystem.NOISE_DIRS`) and binary files (a
NUL byte) are skipped, ``.gitignore`` is not applied, hidden files are searched, symlinks are
not followed, files over 5 MiB are skipped, and results are ``path:line: text`` lines capped at
:data:`MAX_MATCHES`. When ``rg`` rejects a pattern that Python accepts (look-around,
back-references), the Python search answers instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from moco.errors import ToolError
from moco.tools.base import tool
from moco.tools.context import ToolContext
from moco.tools.filesystem import NOISE_DIRS, NOISE_SUFFIXES, glob_to_regex, walk_files

MAX_MATCHES = 200
MAX_LINE_CHARS = 300
MAX_FILE_BYTES = 5 * 1024 * 1024
RG_TIMEOUT_SECONDS = 60.0

#: ``file_type`` names and the extensions they stand for; other values are taken as extensions
FILE_TYPES: dict[str, tuple[str, ...]] = {
    "py": ("py", "pyi"),
    "python": ("py", "pyi"),
    "js": ("js", "jsx", "mjs", "cjs"),
    "javascript": ("js", "jsx", "mjs", "cjs"),
    "ts": ("ts", "tsx", "mts", "cts"),
    "typescript": ("ts", "tsx", "mts", "cts"),
    "go": ("go",),
    "rust": ("rs",),
    "rs": ("rs",),
    "java": ("java",),
    "kotlin": ("kt", "kts"),
    "c": ("c", "h"),
    "cpp": ("cpp", "cc", "cxx", "hpp", "hh", "hxx", "h"),
    "cs": ("cs",),
    "ruby": ("rb",),
    "php": ("php",),
    "swift": ("swift",),
    "sh": ("sh", "bash"),
    "html": ("html", "htm"),
    "css": ("css", "scss"),
    "md": ("md", "markdown"),
    "yaml": ("yaml", "yml"),
    "json": ("json",),
    "toml": ("toml",),
}


@dataclass(frozen=True, slots=True)
class Match:
    path: Path
    line: int
    text: str


def compile_pattern(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ToolError(f"invalid regular expression {pattern!r}: {error}") from None


def extensions_for(file_type: str) -> tuple[str, ...]:
    key = file_type.lower().lstrip(".")
    if key in FILE_TYPES:
        return FILE_TYPES[key]
    if re.fullmatch(r"[A-Za-z0-9_+-]+", key):
        return (key,)
    raise ToolError(f"unknown file_type {file_type!r}; use e.g. {', '.join(list(FILE_TYPES)[:8])}")


def _search_root(ctx: ToolContext, path: str) -> Path:
    return ctx.resolve_path(path, must_exist=True)


def python_search(
    ctx: ToolContext,
    regex: re.Pattern[str],
    root: Path,
    accept: Callable[[Path], bool],
    limit: int = MAX_MATCHES,
) -> Iterator[Match]:
    """Matching lines under ``root`` in walk order; stops after ``limit`` + 1 matches."""
    quick = None if re.search(r"\\[AZz]", regex.pattern) else re.compile(regex.pattern, re.M)
    found = 0
    for file in walk_files(root):
        if ctx.is_cancelled:
            raise ToolError("search cancelled")
        if not accept(file):
            continue
        try:
            if file.stat().st_size > MAX_FILE_BYTES:
                continue
            data = file.read_bytes()
        except OSError:
            continue
        if b"\0" in data:
            continue
        text = data.decode("utf-8", errors="replace")
        if quick is not None and not quick.search(text):
            continue
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        for number, line in enumerate(lines, 1):
            if regex.search(line):
                yield Match(file, number, line.rstrip("\r"))
                found += 1
                if found > limit:
                    return


def _noise_globs() -> list[str]:
    names = [*sorted(NOISE_DIRS), *(f"*{suffix}" for suffix in NOISE_SUFFIXES)]
    return [arg for name in names for arg in ("--glob", f"!{name}/")]


def rg_command(rg: str, pattern: str, root: Path, extensions: Iterable[str]) -> list[str]:
    """The ``rg`` argv that behaves like :func:`python_search`."""
    return [
        rg, "--no-config", "--line-number", "--with-filename", "--no-heading", "--null",
        "--color", "never", "--hidden", "--no-ignore", "--sort", "path", "--encoding", "none",
        "--max-filesize", str(MAX_FILE_BYTES), "--no-messages",
        *_noise_globs(),
        *(arg for ext in extensions for arg in ("--glob", f"*.{ext}")),
        "--regexp", pattern, "--", str(root),
    ]  # fmt: skip


def rg_search(argv: list[str], limit: int = MAX_MATCHES) -> list[Match] | None:
    """Run ``rg``; ``None`` when it failed without output (e.g. it rejects the pattern)."""
    matches: list[Match] = []
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    ) as process:
        watchdog = threading.Timer(RG_TIMEOUT_SECONDS, process.kill)
        watchdog.start()
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                name, _, rest = raw.rstrip(b"\n").partition(b"\0")
                number, _, text = rest.partition(b":")
                decoded = text.decode("utf-8", errors="replace").rstrip("\r")
                matches.append(Match(Path(os.fsdecode(name)), int(number), decoded))
                if len(matches) > limit:
                    process.kill()
                    break
        finally:
            watchdog.cancel()
    if process.returncode == 2 and not matches:
        return None
    return matches


def format_matches(ctx: ToolContext, matches: list[Match], pattern: str) -> str:
    if not matches:
        return f"no matches for {pattern!r}"
    lines = []
    for match in matches[:MAX_MATCHES]:
        text = match.text.strip()
        if len(text) > MAX_LINE_CHARS:
            text = text[:MAX_LINE_CHARS] + "..."
        lines.append(f"{ctx.display_path(match.path)}:{match.line}: {text}")
    if len(matches) > MAX_MATCHES:
        lines.append(f"... (more than {MAX_MATCHES} matches; narrow the pattern or the path)")
    return ctx.truncate("\n".join(lines))


def _include_filter(include: str | None, root: Path) -> Callable[[Path], bool]:
    if not include:
        return lambda _: True
    regex = glob_to_regex(include.removeprefix("./"))
    if "/" in include:
        return lambda file: bool(regex.match(file.relative_to(root).as_posix()))
    return lambda file: bool(regex.match(file.name))


@tool
def grep(ctx: ToolContext, pattern: str, path: str = ".", include: str | None = None) -> str:
    """Search file contents with a Python regular expression; prints `path:line: text`.

    Args:
        pattern: Regular expression, matched against each line.
        path: File or directory to search, relative to the working directory.
        include: Only files whose name matches this glob, e.g. `*.py` or `*.{ts,tsx}`.
    """
    regex = compile_pattern(pattern)
    root = _search_root(ctx, path)
    base = root if root.is_dir() else root.parent
    matches = list(python_search(ctx, regex, root, _include_filter(include, base)))
    return format_matches(ctx, matches, pattern)


@tool
def ripgrep(ctx: ToolContext, pattern: str, path: str = ".", file_type: str | None = None) -> str:
    """Fast regex search of file contents (ripgrep); prints `path:line: text`.

    Args:
        pattern: Regular expression, matched against each line.
        path: File or directory to search, relative to the working directory.
        file_type: Only this language or extension, e.g. py, js, ts, go, rust, java, md.
    """
    regex = compile_pattern(pattern)
    root = _search_root(ctx, path)
    extensions = extensions_for(file_type) if file_type else ()
    rg = shutil.which("rg")
    found = None
    if rg and root.is_dir():
        found = rg_search(rg_command(rg, pattern, root, extensions))
    if found is None:
        suffixes = tuple(f".{ext}" for ext in extensions)
        accept: Callable[[Path], bool] = (
            (lambda file: file.name.endswith(suffixes)) if suffixes else (lambda _: True)
        )
        found = list(python_search(ctx, regex, root, accept))
    return format_matches(ctx, found, pattern)
