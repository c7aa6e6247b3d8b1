"""Confinement with Landlock, for machines where bubblewrap cannot make namespaces.

Every command runs through a small wrapper (:mod:`moco.sandbox._landlock_exec`, started as
``python -I -S <file>``) that restricts itself with the Landlock syscalls and execs the
command. What it gives:

- read (and run) everywhere except the hidden paths: the read rules are built as the
  complement of the hidden paths (every child of ``/`` but the ancestors of hidden paths,
  into which it descends the same way), so ``~/.ssh`` and ``MOCO_HOME`` cannot be opened
  (their ancestors can still be listed, so their *names* show);
- write beneath the working directory, the roots the user added and ``/tmp``, and to
  ``/dev/null`` and the like; nothing else;
- with ABI 4 or later and no network: no TCP bind or connect (UDP is not covered);
- with ABI 6 or later: no signals to, and no abstract unix sockets of, processes outside;
- a process started with ``setsid`` or ``&`` is killed when the command exits (the wrapper
  is a child subreaper).

What it cannot do (bubblewrap can): hide or protect anything *inside* a writable root — the
protected names (``.git/hooks``, ``.mcp.json`` ...) and masked ``.env`` files stay writable
and readable, because a Landlock rule covers a whole hierarchy and cannot take a part back;
give a private ``/tmp``; a PID namespace (``ps`` shows the other processes of the user).
Landlock's ptrace rule keeps a normal user's commands out of ``/proc/<moco>/environ``; a
command running as *root* could still read it (seen on Linux 6.18), which only bubblewrap's
PID namespace prevents.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from moco.sandbox import _landlock_exec
from moco.sandbox.base import SandboxPolicy

WRAPPER = Path(_landlock_exec.__file__).resolve()
#: device files commands may write
WRITABLE_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/random",
                    "/dev/urandom")
#: shared temporary folders commands may write (Landlock cannot make a private one)
WRITABLE_TEMP = ("/tmp", "/dev/shm")


def abi_version() -> int:
    """The kernel's Landlock ABI (0: none)."""
    try:
        return _landlock_exec.abi_version()
    except (OSError, AttributeError):
        return 0


class LandlockSandbox:
    """Runs commands under Landlock as :class:`SandboxPolicy` allows (module docstring)."""

    confined = True

    def __init__(self, policy: SandboxPolicy, abi: int | None = None) -> None:
        self.abi = abi_version() if abi is None else abi
        if self.abi < 1:
            raise RuntimeError("Landlock is not available in this kernel")
        self.policy = policy
        note = "" if policy.network or self.abi >= 4 else ", network not cut: needs ABI 4"
        self.name = f"landlock (ABI {self.abi}{note})"
        self.spec = json.dumps(landlock_spec(policy), separators=(",", ":"))

    def wrap(self, argv: Sequence[str], *, cwd: Path,
             env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
        return [sys.executable, "-I", "-S", str(WRAPPER), self.spec, "--", *argv], dict(env)

    async def aclose(self) -> None:
        return None


def landlock_spec(policy: SandboxPolicy) -> dict[str, object]:
    """The wrapper's JSON spec for ``policy``."""
    roots = [_real(policy.working_dir), *(_real(p) for p in policy.writable)]
    hidden = [h for h in dict.fromkeys(_real(p) for p in policy.hidden)
              if os.path.lexists(h) and not any(_within(root, h) for root in roots)]
    reads, listed = read_plan(hidden)
    writes = [*roots, *(Path(p) for p in WRITABLE_TEMP if os.path.isdir(p))]
    return {
        "read": [str(p) for p in reads], "read_dirs": [str(p) for p in listed],
        "write": [str(p) for p in dict.fromkeys(writes)],
        "write_files": [p for p in WRITABLE_DEVICES if os.path.exists(p)],
        "network": policy.network,
    }


def read_plan(hidden: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """Paths to allow reading beneath, and folders to allow listing only, so that everything
    but ``hidden`` is readable."""
    if not hidden:
        return [Path("/")], []
    reads: list[Path] = []
    listed: list[Path] = []

    def visit(folder: Path) -> None:
        listed.append(folder)
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            return
        for entry in entries:
            child = Path(entry.path)
            if child in hidden:
                continue
            if entry.is_symlink():
                target = _real(child)
                if any(_within(target, h) or _within(h, target) for h in hidden):
                    continue  # a rule on a link is a rule on its target
            if entry.is_dir(follow_symlinks=False) and any(_within(h, child) for h in hidden):
                visit(child)
            else:
                reads.append(child)

    visit(Path("/"))
    return reads, listed


def _real(path: Path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(str(path))))


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
