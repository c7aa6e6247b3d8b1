"""Downloading and safely extracting skill archives (.zip, .tar, .tar.gz ...).

Extraction never trusts the archive. Every member is checked before anything is written, and
the whole archive is refused when one member is unsafe:

- absolute paths, drive letters, ``..`` components and backslash tricks are refused;
- device files, FIFOs and other special members are refused;
- a symbolic link must point inside the archive (checked on its text, and again on the real
  path once created); hard links must name a regular file of the archive (they become copies);
- caps on the number of members, each member's size and the total size (zip bombs).

Regular files and folders are written first and symbolic links last, so no write can pass
through a link. Files keep only their executable bit (never setuid/setgid).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import urlparse

from moco.skills.sources import SkillFetchError

MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024
MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = 100 * 1024 * 1024
MAX_TOTAL_BYTES = 300 * 1024 * 1024
MAX_LINK_CHARS = 1024
DOWNLOAD_TIMEOUT = 60
_CHUNK = 1024 * 1024

MemberKind = Literal["dir", "file", "symlink", "hardlink"]


class UnsafeArchiveError(SkillFetchError):
    """An archive holds a member that would write outside its folder, or breaks a cap."""


@dataclass
class _Member:
    name: str
    kind: MemberKind
    size: int = 0
    link: str = ""
    executable: bool = False
    handle: Any = field(default=None, repr=False)


# --------------------------------------------------------------------------- download


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(  # type: ignore[override]
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
        headers: object, newurl: str,
    ) -> urllib.request.Request | None:
        if urlparse(newurl).scheme not in ("http", "https"):
            raise SkillFetchError(f"refusing a redirect to {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)  # type: ignore[arg-type]


def download(url: str, dest: Path, *, max_bytes: int = MAX_DOWNLOAD_BYTES) -> Path:
    """Save the http(s) resource ``url`` to ``dest``, refusing more than ``max_bytes``."""
    import urllib.error

    if urlparse(url).scheme not in ("http", "https"):
        raise SkillFetchError(f"only http and https archives can be downloaded, not {url}")
    opener = urllib.request.build_opener(_HttpOnlyRedirects())
    request = urllib.request.Request(url, headers={"User-Agent": "moco-skills"})
    total = 0
    try:
        with opener.open(request, timeout=DOWNLOAD_TIMEOUT) as response, dest.open("wb") as out:
            while chunk := response.read(_CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise SkillFetchError(f"{url} is larger than {max_bytes // 2**20} MB")
                out.write(chunk)
    except urllib.error.HTTPError as error:
        detail = f"HTTP {error.code} {error.reason}"
        raise SkillFetchError(f"download of {url} failed: {detail}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or error
        raise SkillFetchError(f"download of {url} failed: {reason}") from None
    return dest


# --------------------------------------------------------------------------- extraction


def archive_format(path: Path) -> Literal["zip", "tar"]:
    """``zip`` or ``tar`` (compressed or not), from the file's content."""
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except OSError:
        pass
    raise SkillFetchError(f"{path.name} is not a zip or tar archive")


def extract_archive(archive: Path, dest: Path) -> None:
    """Extract ``archive`` into the new or empty folder ``dest`` (see the module docstring).

    On any refusal ``dest`` is left empty and :class:`UnsafeArchiveError` says which member.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise SkillFetchError(f"extraction folder {dest} is not empty")
    kind = archive_format(archive)
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as opened:
                members = _checked(_zip_members(opened))
                _write(members, dest, lambda member: opened.open(member.handle))
        else:
            with tarfile.open(archive, "r:*") as opened_tar:
                members = _checked(_tar_members(opened_tar))
                _write(members, dest, lambda member: _tar_stream(opened_tar, member))
    except (UnsafeArchiveError, SkillFetchError):
        _empty(dest)
        raise
    except (OSError, zipfile.BadZipFile, tarfile.TarError, RuntimeError, EOFError) as error:
        _empty(dest)
        raise SkillFetchError(f"cannot extract {archive.name}: {error}") from None


def _tar_stream(opened: tarfile.TarFile, member: _Member) -> IO[bytes]:
    stream = opened.extractfile(member.handle)
    if stream is None:
        raise SkillFetchError(f"cannot read {member.name} in the archive")
    return stream


def _tar_members(opened: tarfile.TarFile) -> Iterator[_Member]:
    for count, info in enumerate(opened, start=1):
        if count > MAX_MEMBERS:
            raise UnsafeArchiveError(f"the archive has more than {MAX_MEMBERS} members")
        if info.isdir():
            yield _Member(info.name, "dir", handle=info)
        elif info.isreg():
            yield _Member(info.name, "file", info.size, executable=bool(info.mode & 0o111),
                          handle=info)
        elif info.issym():
            yield _Member(info.name, "symlink", link=info.linkname, handle=info)
        elif info.islnk():
            yield _Member(info.name, "hardlink", link=info.linkname, handle=info)
        else:
            raise UnsafeArchiveError(f"refusing special member '{info.name}' (device, FIFO ...)")


def _zip_members(opened: zipfile.ZipFile) -> Iterator[_Member]:
    infos = opened.infolist()
    if len(infos) > MAX_MEMBERS:
        raise UnsafeArchiveError(f"the archive has more than {MAX_MEMBERS} members")
    for info in infos:
        mode = info.external_attr >> 16
        if info.is_dir():
            yield _Member(info.filename, "dir", handle=info)
        elif stat.S_ISLNK(mode):
            if info.file_size > MAX_LINK_CHARS:
                raise UnsafeArchiveError(f"symbolic link '{info.filename}' is too long")
            target = opened.read(info).decode("utf-8", errors="replace")
            yield _Member(info.filename, "symlink", link=target, handle=info)
        elif mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise UnsafeArchiveError(f"refusing special member '{info.filename}'")
        else:
            yield _Member(info.filename, "file", info.file_size,
                          executable=bool(mode & 0o111), handle=info)


def _checked(members: Iterator[_Member]) -> list[_Member]:
    """Every member validated (names, links, sizes) before anything is written."""
    accepted: list[_Member] = []
    files: set[str] = set()
    total = 0
    for member in members:
        member.name = safe_member_name(member.name)
        if not member.name:
            continue  # the archive's root folder
        if member.kind == "file":
            if member.size > MAX_MEMBER_BYTES:
                raise UnsafeArchiveError(f"'{member.name}' is larger than the per-file cap")
            total += member.size
            if total > MAX_TOTAL_BYTES:
                raise UnsafeArchiveError("the archive expands beyond the size cap")
            files.add(member.name)
        elif member.kind == "symlink":
            check_link(member.name, member.link)
        elif member.kind == "hardlink":
            target = safe_member_name(member.link)
            if target not in files:
                raise UnsafeArchiveError(
                    f"hard link '{member.name}' does not point to a file of the archive"
                )
            member.link = target
        accepted.append(member)
    return accepted


def safe_member_name(name: str) -> str:
    """The normalised relative POSIX path of an archive member, or an error when it could
    write outside the extraction folder."""
    text = name.replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":") or "\x00" in text:
        raise UnsafeArchiveError(f"refusing member with an absolute path: '{name}'")
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"refusing member with '..' in its path: '{name}'")
    return "/".join(parts)


def check_link(name: str, target: str) -> None:
    """Refuse a symbolic link ``name`` -> ``target`` that leaves the archive's folder."""
    text = target.replace("\\", "/")
    if not text or text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise UnsafeArchiveError(f"refusing symbolic link '{name}' -> '{target}' (absolute)")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), text))
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafeArchiveError(
            f"refusing symbolic link '{name}' -> '{target}' (points outside the archive)"
        )


def _write(
    members: list[_Member], dest: Path, opener: Callable[[_Member], IO[bytes]]
) -> None:
    root = dest.resolve()
    written = 0
    for member in members:
        path = root / member.name
        if member.kind == "dir":
            path.mkdir(parents=True, exist_ok=True)
        elif member.kind == "file":
            path.parent.mkdir(parents=True, exist_ok=True)
            with opener(member) as source, path.open("wb") as out:
                written = _copy_capped(source, out, written)
            path.chmod(0o755 if member.executable else 0o644)
    for member in members:
        if member.kind == "hardlink":
            (root / member.name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / member.link, root / member.name)
    for member in members:
        if member.kind == "symlink":
            path = root / member.name
            path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(member.link.replace("\\", "/"), path)
            if not Path(os.path.realpath(path)).is_relative_to(root):
                raise UnsafeArchiveError(
                    f"refusing symbolic link '{member.name}' (resolves outside the archive)"
                )


def _copy_capped(source: IO[bytes], out: IO[bytes], written: int) -> int:
    while chunk := source.read(_CHUNK):
        written += len(chunk)
        if written > MAX_TOTAL_BYTES:
            raise UnsafeArchiveError("the archive expands beyond the size cap")
        out.write(chunk)
    return written


def _empty(folder: Path) -> None:
    for child in list(folder.iterdir()) if folder.is_dir() else []:
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
