"""What every sandbox offers the tools that start processes.

A :class:`Sandbox` turns the argv of a command into the argv that runs it confined, with the
environment it may see. The shell tool, the process tools and skill scripts call
:meth:`Sandbox.wrap` and nothing else, so confinement is decided in one place; the kind of
confinement (bubblewrap, Landlock, a Docker container, none) is chosen once per run from the
:class:`SandboxPolicy`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

#: credential stores under the home directory that commands never see
HIDDEN_HOME_PATHS: tuple[str, ...] = (
    ".ssh", ".aws", ".gnupg", ".config/gh", ".netrc", ".docker", ".kube",
    ".config/gcloud", ".azure", ".pypirc", ".git-credentials",
)

#: paths inside the working directory that decide what the next run trusts: read-only to
#: commands (and refused by the file tools unless a permission rule allows them)
PROTECTED_NAMES: tuple[str, ...] = (
    ".git", ".moco", ".mcp.json", "mcp.json", ".claude", ".opencode",
    "AGENTS.md", "CLAUDE.md", "MOCO.md",
)


@dataclass(frozen=True, slots=True)
class SandboxPolicy:
    """What a run's commands may touch."""

    working_dir: Path
    #: more read-write roots the user added (``--allow-outside`` directories, ``--add-dir``)
    writable: tuple[Path, ...] = ()
    network: bool = True
    #: absolute paths hidden from commands (credential stores, MOCO_HOME)
    hidden: tuple[Path, ...] = ()
    #: names under ``working_dir`` kept read-only
    protected: tuple[str, ...] = PROTECTED_NAMES
    #: files under ``working_dir`` masked (``.env`` and the like) unless reading was allowed
    masked: tuple[Path, ...] = ()
    extra: Mapping[str, object] = field(default_factory=dict)


@runtime_checkable
class Sandbox(Protocol):
    """A way of running commands confined by a :class:`SandboxPolicy`."""

    #: what is active, for people: ``"bubblewrap 0.11.0"``, ``"landlock (ABI 7)"``,
    #: ``"docker (python:3.12-slim)"``, ``"none"``
    name: str
    #: False only for the no-confinement fallback
    confined: bool

    def wrap(self, argv: Sequence[str], *, cwd: Path,
             env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
        """The argv and environment that run ``argv`` in ``cwd`` confined."""
        ...

    async def aclose(self) -> None:
        """Release what the sandbox holds (a container, a temporary directory)."""
        ...


class Unconfined:
    """No confinement: the command runs as it is (the danger check is the only layer)."""

    name = "none"
    confined = False

    def wrap(self, argv: Sequence[str], *, cwd: Path,
             env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
        return list(argv), dict(env)

    async def aclose(self) -> None:
        return None
