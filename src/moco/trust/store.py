"""The trust store: ``$MOCO_HOME/trust.json`` (mode 0600), per project directory the hash of
every item the user trusted (:mod:`moco.trust.items`).

Format::

    {"version": 1, "projects": {"/abs/project": {"trusted": {".mcp.json": "<sha256>"},
                                                 "declined": {"AGENTS.md": "<sha256>"}}}}

``declined`` remembers a "no" given in ``moco chat`` so the same content is not asked about
again; it never trusts anything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from moco.config import ensure_private_dir, moco_home
from moco.errors import ConfigError
from moco.trust.items import ProjectItem, project_items

STORE_FILE = "trust.json"

ItemStatus = Literal["trusted", "new", "changed"]


@dataclass
class TrustReport:
    """What a project brings and whether each item is trusted at its current content."""

    working_dir: Path
    items: list[ProjectItem] = field(default_factory=list)
    status: dict[str, ItemStatus] = field(default_factory=dict)
    #: items answered "no" to at this content (``moco chat``)
    declined: set[str] = field(default_factory=set)

    @property
    def untrusted(self) -> list[ProjectItem]:
        """Items that are new or changed since they were trusted."""
        return [item for item in self.items if self.status[item.key] != "trusted"]

    def is_trusted(self, key: str) -> bool:
        return self.status.get(key) == "trusted"


class TrustStore:
    """Reads and writes ``trust.json``; every write replaces the file atomically, 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def open(cls, env: Mapping[str, str] | None = None) -> TrustStore:
        return cls(moco_home(env) / STORE_FILE)

    def load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": 1, "projects": {}}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ConfigError(f"{self.path}: cannot read the trust store ({error}); "
                              "fix or delete it and trust your projects again") from None
        if not isinstance(data, dict) or not isinstance(data.get("projects"), dict):
            raise ConfigError(f"{self.path}: not a moco trust store; delete it and trust "
                              "your projects again")
        return data

    def project(self, working_dir: Path) -> dict[str, dict[str, str]]:
        entry = self.load()["projects"].get(str(_resolved(working_dir)), {})
        return {part: dict(entry.get(part, {})) for part in ("trusted", "declined")}

    def save_project(self, working_dir: Path, entry: dict[str, dict[str, str]] | None) -> None:
        data = self.load()
        key = str(_resolved(working_dir))
        if entry is None:
            data["projects"].pop(key, None)
        else:
            data["projects"][key] = entry
        ensure_private_dir(self.path.parent)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
        os.replace(temporary, self.path)


def check_project(working_dir: Path, env: Mapping[str, str] | None = None) -> TrustReport:
    """The project's items, each ``trusted``, ``new`` (never trusted) or ``changed`` (its
    content hash differs from the trusted one)."""
    entry = TrustStore.open(env).project(working_dir)
    report = TrustReport(_resolved(working_dir), project_items(working_dir))
    for item in report.items:
        trusted = entry["trusted"].get(item.key)
        report.status[item.key] = ("trusted" if trusted == item.digest
                                   else "new" if trusted is None else "changed")
        if entry["declined"].get(item.key) == item.digest:
            report.declined.add(item.key)
    return report


def trust_project(working_dir: Path, env: Mapping[str, str] | None = None) -> TrustReport:
    """Trust every item of the project at its current content; returns what was trusted."""
    report = check_project(working_dir, env)
    TrustStore.open(env).save_project(
        working_dir, {"trusted": {item.key: item.digest for item in report.items},
                      "declined": {}})
    report.status = {item.key: "trusted" for item in report.items}
    report.declined = set()
    return report


def decline_project(working_dir: Path, env: Mapping[str, str] | None = None) -> None:
    """Remember "no" for the untrusted items at their current content (not asked again)."""
    store = TrustStore.open(env)
    report = check_project(working_dir, env)
    entry = store.project(working_dir)
    entry["declined"] = {item.key: item.digest for item in report.untrusted}
    store.save_project(working_dir, entry)


def revoke_project(working_dir: Path, env: Mapping[str, str] | None = None) -> bool:
    """Forget the project's trust; whether there was any."""
    store = TrustStore.open(env)
    had = bool(store.project(working_dir)["trusted"])
    store.save_project(working_dir, None)
    return had


def trusted_projects(env: Mapping[str, str] | None = None) -> dict[str, int]:
    """Every project in the store, with how many items are trusted."""
    projects = TrustStore.open(env).load()["projects"]
    return {name: len(entry.get("trusted", {})) for name, entry in sorted(projects.items())}


def _resolved(working_dir: Path) -> Path:
    return Path(working_dir).expanduser().resolve()
