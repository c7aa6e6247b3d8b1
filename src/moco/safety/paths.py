"""Where a path of a shell command points, and how bad it is to destroy or overwrite it.

A :class:`PathJudge` knows the working directory and the home directory. Its judgements
return ``None`` (fine) or a :class:`Judgement`: ``critical`` ones (``/``, the home
directory, system directories, credentials, disks) can never be allowed by configuration;
the others (a path outside the working directory) can be, with an ``extra_allow`` pattern.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from moco.safety.words import UNKNOWN, Word

ROOT = Path("/")

#: top-level directories that belong to the system
SYSTEM_TOP = frozenset(
    {
        "etc", "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "boot", "var", "opt",
        "srv", "root", "sys", "proc", "dev", "snap", "System", "Library", "Applications",
        "private", "run", "mnt", "media",
    }
)  # fmt: skip
USER_HOMES = frozenset({"home", "Users"})
TEMP_DIRS = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), Path("/private/tmp"))

#: credentials under the home directory
HOME_SECRETS = (
    ".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker", ".password-store", ".netrc",
    ".pgpass", ".git-credentials", ".npmrc", ".pypirc", ".vault-token", ".config/gcloud",
    ".config/gh", ".terraform.d",
)  # fmt: skip
#: home entries whose loss breaks the user's setup
HOME_VITAL = (
    ".config", ".local", ".bashrc", ".bash_profile", ".profile", ".zshrc", ".zprofile",
    ".zshenv", ".gitconfig", "Documents", "Desktop",
)  # fmt: skip
SYSTEM_SECRETS = (
    "/etc/passwd", "/etc/shadow", "/etc/gshadow", "/etc/group", "/etc/sudoers",
    "/etc/sudoers.d", "/etc/ssh", "/etc/fstab", "/etc/pam.d", "/root/.ssh", "/boot",
)  # fmt: skip
#: reading these is already a leak
READ_SECRETS = ("/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/root/.ssh")

SAFE_DEVICES = frozenset(
    {"/dev/null", "/dev/zero", "/dev/stdout", "/dev/stderr", "/dev/stdin", "/dev/tty",
     "/dev/random", "/dev/urandom", "/dev/full"}
)  # fmt: skip
_DISK = re.compile(
    r"(sd[a-z]+|hd[a-z]+|vd[a-z]+|xvd[a-z]+|nvme\d+(n\d+)?|mmcblk\d+|disk\d+|rdisk\d+"
    r"|md\d+|dm-\d+|loop\d+|nbd\d+|sr\d+|zram\d+)(p?\d+)?(s\d+)?|mem|kmem|port|root|nvram"
)
_DISK_DIRS = ("/dev/mapper/", "/dev/disk/", "/dev/md/", "/dev/block/")
_GLOB = re.compile(r"[*?\[]|\{[^}]*(,|\.\.)[^}]*\}")


@dataclass(frozen=True, slots=True)
class Target:
    """A path argument as far as it can be known before running.

    ``path`` is absolute and resolved (``None`` when unknowable); ``contents`` tells that
    the argument was a glob whose fixed part is ``path`` (``/tmp/*`` -> ``/tmp``).
    """

    literal: str
    path: Path | None
    contents: bool = False
    #: the argument starts with an unknown variable followed by ``/``: empty means ``/``
    maybe_root: bool = False


@dataclass(frozen=True, slots=True)
class Judgement:
    critical: bool
    #: a noun phrase: "/", "the home directory", "/tmp/x, outside the working directory"
    what: str


def find_repo_root(path: Path) -> Path | None:
    """The nearest directory at or above ``path`` that holds ``.git``."""
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def glob_base(text: str) -> tuple[str, bool]:
    """The fixed part of a glob (``/tmp/*.log`` -> ``/tmp``) and whether there was a glob."""
    parts = text.split("/")
    for index, part in enumerate(parts):
        if _GLOB.search(part):
            base = "/".join(parts[:index])
            return (base or ("/" if text.startswith("/") else "")), True
    return text, False


def is_disk_device(lexical: str) -> bool:
    if lexical.startswith(_DISK_DIRS):
        return True
    return lexical.startswith("/dev/") and bool(_DISK.fullmatch(lexical[5:]))


class PathJudge:
    """Judges paths against the working directory and the home directory."""

    def __init__(self, working_dir: Path, home: Path) -> None:
        self.working_dir = working_dir.expanduser().resolve()
        self.home = home.expanduser().resolve()
        self.repo_root = find_repo_root(self.working_dir)
        #: directories the command creates with ``mktemp``: its own, like the working directory
        self.temporary: list[Path] = []

    def new_temporary(self) -> Path:
        """A stand-in for the path ``$(mktemp)`` prints (a new file or directory)."""
        path = Path(f"/tmp/moco-mktemp-{len(self.temporary) + 1}")
        self.temporary.append(path)
        return path

    # ------------------------------------------------------------------ resolving

    def target(self, word: Word, cwd: Path | None) -> Target:
        """Resolve an argument against ``cwd`` (``None``: an unknown directory)."""
        maybe_root = False
        text = word.value
        if text.startswith(UNKNOWN):
            rest = text.lstrip(UNKNOWN)
            if not rest.startswith("/"):
                return Target(word.literal, None)
            maybe_root, text = True, rest
        base, contents = glob_base(text.replace(UNKNOWN, "*"))
        if not base.startswith("/"):
            if cwd is None:
                return Target(word.literal, None)
            base = str(cwd / base) if base else str(cwd)
        return Target(word.literal, self.resolve(base), contents, maybe_root)

    def directory(self, value: str, cwd: Path | None) -> Path | None:
        """Where ``cd value`` (or ``git -C value``) leads; ``None`` when unknowable."""
        if UNKNOWN in value:
            return None
        if value.startswith("/"):
            return self.resolve(value)
        return None if cwd is None else self.resolve(str(cwd / value))

    @staticmethod
    def lexical(value: str, cwd: Path | None) -> str | None:
        """The normalized path without following symlinks (``/dev/stdout`` stays itself)."""
        if UNKNOWN in value or (not value.startswith("/") and cwd is None):
            return None
        joined = value if value.startswith("/") else os.path.join(str(cwd), value)
        normal = os.path.normpath(joined)
        return "/" + normal.lstrip("/")

    @staticmethod
    def resolve(text: str) -> Path:
        normal = "/" + os.path.normpath(text).lstrip("/")
        try:
            return Path(normal).resolve()
        except (OSError, RuntimeError):
            return Path(normal)

    # ------------------------------------------------------------------ classes

    def inside(self, path: Path) -> bool:
        """Inside the working directory, or inside what the command made with ``mktemp``."""
        if is_within(path, self.working_dir):
            return True
        return any(is_within(path, temporary) for temporary in self.temporary)

    def home_entry(self, path: Path, names: tuple[str, ...]) -> bool:
        return any(is_within(path, self.home / name) for name in names)

    def secret(self, path: Path) -> bool:
        if self.home_entry(path, HOME_SECRETS):
            return True
        return any(is_within(path, Path(item)) for item in SYSTEM_SECRETS)

    def reads_secret(self, path: Path) -> bool:
        if self.home_entry(path, HOME_SECRETS):
            return not path.name.endswith((".pub", "known_hosts"))
        if any(is_within(path, Path(item)) for item in READ_SECRETS):
            return True
        return path.parent == Path("/etc/ssh") and path.name.endswith("_key")

    def system_depth(self, path: Path) -> int:
        """How deep ``path`` is inside a system directory (``/etc`` is 1); 0 when not in one
        (temporary directories and the home directory -- ``/root`` for root -- are not)."""
        parts = path.parts
        if len(parts) < 2 or parts[1] not in SYSTEM_TOP or is_within(path, self.home):
            return 0
        if any(is_within(path, temp) for temp in TEMP_DIRS):
            return 0
        return len(parts) - 1

    def _critical(self, path: Path, contents: bool) -> str | None:
        """The phrase for a path whose destruction is never acceptable, else ``None``."""
        every = "everything in " if contents else ""
        if path == ROOT:
            return "everything under /" if contents else "/"
        if path == self.home:
            return f"{every}the home directory"
        if is_within(self.home, path):
            return f"{path}, which holds the home directory"
        if is_within(self.working_dir, path) and not (contents and path == self.working_dir):
            if path == self.working_dir:
                return "the working directory itself"
            return f"{every}{path}, a parent of the working directory"
        if len(path.parts) == 2:
            return f"{every}top-level directory {path}"
        if self.secret(path):
            return f"credentials ({path})"
        if len(path.parts) == 3 and path.parts[1] in USER_HOMES:
            return f"{every}the user directory {path}"
        if 0 < self.system_depth(path) <= 2:
            return f"{every}system path {path}"
        return None

    # ------------------------------------------------------------------ judgements

    def destroy(self, target: Target) -> Judgement | None:
        """Judge a recursive delete (or ``chmod -R``, ``rsync --delete``) of ``target``."""
        if target.path is None:
            return Judgement(False, f"{_show(target)}, a path that cannot be known before running")
        if target.maybe_root:
            if target.path == ROOT:
                return Judgement(True, f"{_show(target)}, which is / when the variable is empty")
            return Judgement(False, f"{_show(target)}, a path that cannot be known before running")
        critical = self._critical(target.path, target.contents)
        if critical:
            return Judgement(True, critical)
        if self.inside(target.path):
            return None
        if self.home_entry(target.path, HOME_VITAL):
            return Judgement(True, f"{target.path} in the home directory")
        return Judgement(False, f"{target.path}, outside the working directory")

    def delete(self, target: Target) -> Judgement | None:
        """Judge a non-recursive delete of ``target``."""
        if target.path is None:
            return None
        if target.maybe_root and target.path == ROOT:
            return Judgement(True, f"{_show(target)}, which is / when the variable is empty")
        critical = self._critical(target.path, target.contents)
        if critical:
            return Judgement(True, critical)
        if self.inside(target.path):
            return None
        if target.path.parent == self.home and target.path.name.startswith("."):
            return Judgement(False, f"{target.path} in the home directory")
        if self.system_depth(target.path):
            return Judgement(False, f"system file {target.path}")
        return None

    def write(self, value: str, cwd: Path | None, *, append: bool = False) -> Judgement | None:
        """Judge overwriting (or appending to) the file ``value``."""
        lexical = self.lexical(value, cwd)
        if lexical is None:
            return None
        path = self.resolve(lexical)
        for candidate in (lexical, str(path)):
            if candidate in SAFE_DEVICES or candidate.startswith(("/dev/fd/", "/proc/self/")):
                return None
            if is_disk_device(candidate):
                return Judgement(True, f"disk device {lexical}")
        if self.secret(path):
            return Judgement(True, f"credentials ({path})")
        if self.inside(path):
            return None
        if path.parent == self.home and path.name.startswith("."):
            return None if append else Judgement(False, f"{path} in the home directory")
        depth = self.system_depth(path)
        if depth and not lexical.startswith("/dev/"):
            return Judgement(depth <= 2 and not append, f"system file {path}")
        return None

    def chmod(self, target: Target) -> Judgement | None:
        """Judge a non-recursive ``chmod``/``chown`` of ``target``."""
        path = target.path
        if path is None or self.inside(path):
            return None
        if path == ROOT or path == self.home or len(path.parts) == 2:
            return Judgement(True, str(path) if path != self.home else "the home directory")
        if is_within(path, self.home):
            return None
        if any(is_within(path, Path(item)) for item in SYSTEM_SECRETS):
            return Judgement(True, f"system file {path}")
        depth = self.system_depth(path)
        if depth:
            return Judgement(depth <= 2, f"system path {path}")
        return None

    def device(self, value: str, cwd: Path | None) -> str | None:
        """The device a path names, when it is a disk (``/dev/sda``), else ``None``."""
        lexical = self.lexical(value, cwd)
        if lexical is None:
            return None
        for candidate in (lexical, str(self.resolve(lexical))):
            if is_disk_device(candidate):
                return lexical
        return None


def _show(target: Target) -> str:
    return target.literal
