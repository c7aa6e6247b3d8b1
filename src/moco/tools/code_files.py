"""Which files of a folder ``codebase_search`` indexes.

In a git repository (the folder or one it lies in), git says:
``git ls-files --cached --others --exclude-standard`` — tracked files and untracked ones that
no ``.gitignore``, ``.git/info/exclude`` or global excludes file ignores — run with the
settings that keep a repository's configuration from starting programs (``core.fsmonitor``).
Elsewhere the folder is walked and the ``.gitignore`` files found in it are applied by
:class:`GitIgnore` (the common subset: ``*``, ``?``, ``**``, classes, ``!`` negation, ``/``
anchoring, trailing ``/`` for directories). Either way the noise directories of the file tools
(``.git``, ``node_modules``, virtualenvs, caches, ``build``, ``dist`` ...) are left out, and
symlinks are not followed.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from moco.tools.filesystem import NOISE_DIRS, glob_to_regex, is_noise_dir

GIT_TIMEOUT = 60.0
_GIT = ("git", "-c", "core.fsmonitor=false", "-c", "core.quotepath=off",
        "-c", "core.untrackedCache=false")  # fmt: skip


def list_files(root: Path, env: Mapping[str, str] | None = None, *, under: str = "",
               limit: int | None = None) -> list[str]:
    """The indexable files under ``root``: sorted ``/``-separated paths relative to it; only
    those under ``under`` (a folder or file relative to ``root``) when given. Outside git the
    walk stops once it found more than ``limit`` files."""
    listed = git_files(root, env, under)
    if listed is None:
        listed = walked_files(root, under, limit)
    return sorted({path for path in listed if not _in_noise_dir(path)})


def within(path: str, scope: str) -> bool:
    """Whether ``path`` is ``scope`` or lies under it (every path is within ``""``)."""
    return not scope or path == scope or path.startswith(f"{scope}/")


def _in_noise_dir(path: str) -> bool:
    parts = path.split("/")[:-1]
    return any(part in NOISE_DIRS or is_noise_dir(part) for part in parts)


def git_files(root: Path, env: Mapping[str, str] | None = None,
              under: str = "") -> list[str] | None:
    """What git lists under ``root`` (and ``under``); ``None`` when ``root`` is not in a
    repository (or git is missing or fails)."""
    argv = [*_GIT, "ls-files", "-z", "--cached", "--others", "--exclude-standard",
            *(["--", f":(literal){under}"] if under else [])]
    try:
        done = subprocess.run(argv, cwd=root, env=dict(env) if env is not None else None,
                              capture_output=True, stdin=subprocess.DEVNULL,
                              timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return [os.fsdecode(name) for name in done.stdout.split(b"\0") if name]


@dataclass(frozen=True, slots=True)
class _Rule:
    base: str  # the folder of the .gitignore, "" at the root, else "sub/dir/"
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


@dataclass(slots=True)
class GitIgnore:
    """The rules of the ``.gitignore`` files read so far; the last matching rule wins."""

    rules: list[_Rule] = field(default_factory=list)

    def add_file(self, file: Path, base: str) -> None:
        """Read the rules of ``file``, a ``.gitignore`` in the folder ``base`` ("" or "a/b/")."""
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        for raw in text.splitlines():
            rule = _parse_rule(raw, base)
            if rule is not None:
                self.rules.append(rule)

    def ignored(self, path: str, is_dir: bool) -> bool:
        verdict = False
        for rule in self.rules:
            if rule.dir_only and not is_dir:
                continue
            if not path.startswith(rule.base):
                continue
            if rule.regex.match(path[len(rule.base) :]):
                verdict = not rule.negate
        return verdict


def _parse_rule(raw: str, base: str) -> _Rule | None:
    line = raw.rstrip()
    if line.endswith("\\"):
        line += " "  # an escaped trailing space is kept
    if not line or line.startswith("#"):
        return None
    negate = line.startswith("!")
    line = line[1:] if negate else line.removeprefix("\\")
    dir_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    line = line.lstrip("/")
    pattern = line if anchored or line.startswith("**/") else f"**/{line}"
    return _Rule(base, glob_to_regex(pattern.replace("\\ ", " ")), negate, dir_only)


def walked_files(root: Path, under: str = "", limit: int | None = None) -> list[str]:
    """Files under ``root`` (and ``under``) outside git: noise directories and
    ``.gitignore``'d paths out; the walk stops after more than ``limit`` files."""
    ignore = GitIgnore()
    parts = under.split("/") if under else []
    for depth in range(len(parts)):  # the rules of the folders above ``under``
        folder = "/".join(parts[:depth])
        ignore.add_file(root / folder / ".gitignore", f"{folder}/" if folder else "")
        inner = depth < len(parts) - 1 or (root / under).is_dir()
        if ignore.ignored("/".join(parts[: depth + 1]), inner):
            return []
    if under and not (root / under).is_dir():
        return [under] if (root / under).is_file() else []
    found: list[str] = []
    for folder, dirs, files in os.walk(root / under, followlinks=False):
        if limit is not None and len(found) > limit:
            break
        base = Path(folder).relative_to(root).as_posix()
        base = "" if base == "." else f"{base}/"
        if ".gitignore" in files:
            ignore.add_file(Path(folder) / ".gitignore", base)
        dirs[:] = sorted(d for d in dirs if not is_noise_dir(d)
                         and not os.path.islink(os.path.join(folder, d))
                         and not ignore.ignored(f"{base}{d}", True))
        found.extend(f"{base}{name}" for name in files
                     if not ignore.ignored(f"{base}{name}", False))
    return found
