"""Where skills come from: parsing an install source and fetching it into the cache.

Accepted sources (:func:`parse_source`):

- ``owner/repo[/path][@ref]``: a GitHub repository, cloned from
  ``<git base>/owner/repo.git``; the git base is ``https://github.com`` unless
  ``MOCO_SKILLS_GIT_BASE`` (or ``skills.git_base`` in ``config.yaml``) says otherwise;
- ``<registry>:<skill>``: one skill of a configured registry (``anthropics:pdf``);
- a git URL: ``https://...``, ``ssh://...``, ``git://...``, ``git@host:path``, ``file://...``;
  ``#ref`` (or ``.git@ref``) picks a branch, tag or commit; a GitHub
  ``https://github.com/o/r/tree/<ref>/<path>`` page URL is understood too;
- an ``http(s)`` URL of an archive (``.zip``, ``.tar.gz``, ``.tgz``, ``.tar``, ...);
- a local folder or archive file (a path that exists, or that starts with ``/``, ``.``, ``~``).

Git repositories are fetched with the ``git`` CLI (shallow) into ``$MOCO_HOME/cache/skills``;
a second fetch of the same URL and ref updates the cached checkout.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

from moco.errors import ConfigError
from moco.skills.model import SkillError

SourceKind = Literal["git", "dir", "archive", "url"]

DEFAULT_GIT_BASE = "https://github.com"
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
GIT_TIMEOUT = 300

_SHORTHAND = re.compile(
    r"^(?P<owner>[A-Za-z0-9][A-Za-z0-9_.-]*)/(?P<repo>[A-Za-z0-9_.-]+)"
    r"(?P<path>(?:/[^@\s]+)?)(?:@(?P<ref>[^\s@]+))?$"
)
_GITHUB_TREE = re.compile(
    r"^https?://github\.com/(?P<owner>[^/]+)/(?P<repo>[^/]+)/(?:tree|blob)/(?P<ref>[^/]+)"
    r"(?P<path>/.*)?$"
)
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")
_SAFE_REF = re.compile(r"^(?!-)(?!.*\.\.)[A-Za-z0-9._/+-]{1,200}$")
_REGISTRY_FORM = re.compile(r"^(?P<registry>[a-z0-9][a-z0-9_-]*):(?P<skill>[^/:\s]+)$")


class SkillSourceError(SkillError, ConfigError):
    """An install source or registry the user gave cannot be understood."""


class SkillFetchError(SkillError):
    """Fetching a source failed (git, network, archive)."""


@dataclass(frozen=True)
class SkillSource:
    """A parsed install source."""

    kind: SourceKind
    #: git URL, local path or http(s) URL
    location: str
    ref: str | None = None
    #: folder inside the source where skills are looked for
    subpath: str | None = None
    #: install only the skill of this name
    only: str | None = None
    #: the source as the user wrote it
    text: str = ""

    def describe(self) -> str:
        where = self.location + (f"@{self.ref}" if self.ref else "")
        return where + (f" ({self.subpath})" if self.subpath else "")


def parse_source(
    text: str,
    *,
    git_base: str = DEFAULT_GIT_BASE,
    registries: Mapping[str, str] | None = None,
) -> SkillSource:
    """Understand ``text`` as one of the sources in the module docstring."""
    raw = text.strip()
    if not raw:
        raise SkillSourceError("empty skill source")
    if raw.startswith("-"):
        raise SkillSourceError(f"'{raw}' is not a skill source")
    parsed = _registry_source(raw, git_base, registries) or _url_source(raw)
    parsed = parsed or _local_source(raw) or _shorthand_source(raw, git_base)
    if parsed is None:
        raise SkillSourceError(
            f"cannot understand skill source '{raw}'; use owner/repo[/path][@ref], a git URL, "
            "a local folder or archive, or an http(s) URL of a .zip/.tar.gz archive"
        )
    check_ref(parsed.ref)
    return replace(parsed, text=raw)


def check_ref(ref: str | None) -> None:
    """Refuse a git ref that could be read as an option or is not a plain name."""
    if ref is not None and not _SAFE_REF.match(ref):
        raise SkillSourceError(f"'{ref}' is not a valid git branch, tag or commit")


def _registry_source(
    raw: str, git_base: str, registries: Mapping[str, str] | None
) -> SkillSource | None:
    match = _REGISTRY_FORM.match(raw)
    if not match or not registries or match.group("registry") not in registries:
        return None
    base = parse_source(registries[match.group("registry")], git_base=git_base)
    return replace(base, only=match.group("skill"))


def _url_source(raw: str) -> SkillSource | None:
    lowered = raw.lower()
    if lowered.startswith(("http://", "https://")):
        tree = _GITHUB_TREE.match(raw)
        if tree:
            url = f"https://github.com/{tree.group('owner')}/{tree.group('repo')}.git"
            path = (tree.group("path") or "").strip("/") or None
            return SkillSource("git", url, ref=tree.group("ref"), subpath=path)
        if _is_archive_name(urlparse(raw).path):
            return SkillSource("url", raw)
        return _git_with_ref(raw)
    if lowered.startswith("file://"):
        path = unquote(urlparse(raw).path)
        if _is_archive_name(path):
            return SkillSource("archive", str(Path(path)))
        return _git_with_ref(raw)
    if lowered.startswith(("ssh://", "git://", "git+ssh://")) or _SCP_LIKE.match(raw):
        return _git_with_ref(raw)
    return None


def _git_with_ref(raw: str) -> SkillSource:
    url, _, ref = raw.partition("#")
    if not ref:
        head, sep, tail = url.rpartition(".git@")
        if sep and tail and "/" not in tail:
            url, ref = head + ".git", tail
    return SkillSource("git", url, ref=ref or None)


def _local_source(raw: str) -> SkillSource | None:
    path = Path(raw).expanduser()
    explicit = raw.startswith(("/", ".", "~"))
    if not path.exists():
        if explicit:
            raise SkillSourceError(f"no such folder or archive: {path}")
        return None
    resolved = path.resolve()
    if resolved.is_dir():
        return SkillSource("dir", str(resolved))
    if _is_archive_name(resolved.name) or resolved.is_file():
        return SkillSource("archive", str(resolved))
    raise SkillSourceError(f"{path} is neither a folder nor an archive")


def _shorthand_source(raw: str, git_base: str) -> SkillSource | None:
    match = _SHORTHAND.match(raw)
    if not match:
        return None
    repo = match.group("repo").removesuffix(".git")
    url = f"{git_base.rstrip('/')}/{match.group('owner')}/{repo}.git"
    path = match.group("path").strip("/") or None
    return SkillSource("git", url, ref=match.group("ref"), subpath=path)


def _is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


# --------------------------------------------------------------------------- git


def fetch_git(url: str, ref: str | None, cache_dir: Path) -> Path:
    """A checkout of ``url`` at ``ref`` (default branch when ``None``) in ``cache_dir``; an
    existing checkout of the same URL and ref is updated instead of cloned again."""
    check_ref(ref)
    if url.startswith("-"):
        raise SkillSourceError(f"'{url}' is not a git URL")
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / _cache_name(url, ref)
    if (target / ".git").is_dir():
        try:
            _update_checkout(target, ref)
            return target
        except SkillFetchError:
            shutil.rmtree(target, ignore_errors=True)
    elif target.exists():
        shutil.rmtree(target, ignore_errors=True)
    staging = cache_dir / f".{target.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _clone(url, ref, staging)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def git_commit(checkout: Path) -> str | None:
    """The commit checked out in ``checkout``, if git can tell."""
    try:
        return _git(["-C", str(checkout), "rev-parse", "HEAD"], what="rev-parse").strip() or None
    except SkillFetchError:
        return None


def _clone(url: str, ref: str | None, dest: Path) -> None:
    branch = ["--branch", ref] if ref else []
    try:
        _git(["clone", "--depth", "1", "--quiet", *branch, "--", url, str(dest)],
             what=f"git clone of {url}")
        return
    except SkillFetchError:
        if not ref:
            raise
    # a commit id is not a branch: fetch it directly
    shutil.rmtree(dest, ignore_errors=True)
    _git(["init", "--quiet", str(dest)], what="git init")
    _git(["-C", str(dest), "remote", "add", "origin", url], what="git remote add")
    _git(["-C", str(dest), "fetch", "--depth", "1", "--quiet", "origin", ref],
         what=f"git fetch of {ref} from {url}")
    _git(["-C", str(dest), "checkout", "--quiet", "FETCH_HEAD"], what="git checkout")


def _update_checkout(target: Path, ref: str | None) -> None:
    where = ["-C", str(target)]
    _git([*where, "fetch", "--depth", "1", "--quiet", "origin", ref or "HEAD"], what="git fetch")
    _git([*where, "reset", "--hard", "--quiet", "FETCH_HEAD"], what="git reset")
    _git([*where, "clean", "-ffdxq"], what="git clean")


def _git(args: Sequence[str], *, what: str) -> str:
    executable = shutil.which("git")
    if executable is None:
        raise SkillFetchError("git is not installed; install git or give an archive instead")
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_LFS_SKIP_SMUDGE="1")
    command = [executable, "-c", "protocol.ext.allow=never", "-c", "core.hooksPath=/dev/null",
               *args]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=GIT_TIMEOUT,
            stdin=subprocess.DEVNULL, check=False,
        )
    except subprocess.TimeoutExpired:
        raise SkillFetchError(f"{what} timed out after {GIT_TIMEOUT}s") from None
    except OSError as error:
        raise SkillFetchError(f"{what} failed: {error.strerror or error}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit code {done.returncode}"
        raise SkillFetchError(f"{what} failed: {detail}")
    return done.stdout


def _cache_name(url: str, ref: str | None) -> str:
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", url.split("://", 1)[-1]).strip("-.")[-48:]
    digest = hashlib.sha256(f"{url}#{ref or ''}".encode()).hexdigest()[:12]
    return f"{readable}-{digest}"
