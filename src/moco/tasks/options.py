"""The ``moco run`` options a background task was started with, as stored in ``tasks.options``.

They are resolved when the task is submitted (the working directory and a profile folder
become absolute paths), so a worker started anywhere — a detached process, a Celery worker —
runs the task as ``moco run`` would have in the submitting terminal. API keys are never part
of them: a worker takes keys from its own environment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moco.errors import ConfigError


@dataclass(frozen=True, slots=True)
class TaskOptions:
    profile: str = "default"
    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    working_dir: str | None = None
    yes: bool = False
    read_only: bool = False
    allow_outside: bool = False
    no_network: bool = False
    sandbox: bool = False
    sandbox_image: str | None = None
    max_turns: int = 50
    agent: str | None = None
    #: continue (or create) the session with this id or name
    session: str | None = None
    #: continue the working directory's latest session
    continue_last: bool = False
    trust_project: bool = False
    optimizer: bool = False
    optimizer_method: str = "model"

    def __post_init__(self) -> None:
        if self.session and self.continue_last:
            raise ConfigError("--session and --continue name two sessions — pick one")
        if self.max_turns < 1:
            raise ConfigError("--max-turns must be at least 1")

    def resolved(self, cwd: Path | None = None) -> TaskOptions:
        """These options with the working directory (default ``cwd``) and a profile given as
        a folder made absolute."""
        base = (cwd or Path.cwd()).resolve()
        working_dir = (base / Path(self.working_dir).expanduser() if self.working_dir
                       else base).resolve()
        if not working_dir.is_dir():
            raise ConfigError(f"working directory {working_dir} does not exist")
        profile = self.profile
        as_path = base / Path(profile).expanduser()
        if ("/" in profile or profile.startswith(".")) and as_path.is_dir():
            profile = str(as_path.resolve())
        return dataclasses.replace(self, working_dir=str(working_dir), profile=profile)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskOptions:
        """Options from stored JSON; keys a newer moco wrote and this one does not know are
        ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    def orchestrator_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :class:`~moco.core.orchestrator.Orchestrator`, as
        ``moco run`` passes them (without an approver: nobody can answer an ask)."""
        return {
            "profile": self.profile, "provider": self.provider, "model": self.model,
            "base_url": self.base_url, "working_dir": self.working_dir,
            "max_turns": self.max_turns, "agent": self.agent, "optimizer": self.optimizer,
            "optimizer_method": self.optimizer_method, "approver": None, "yes": self.yes,
            "read_only": self.read_only, "allow_outside": self.allow_outside,
            "network": False if self.no_network else None,
            "sandbox": "docker" if self.sandbox or self.sandbox_image else None,
            "sandbox_image": self.sandbox_image,
            "trust_project": self.trust_project or None,
        }
