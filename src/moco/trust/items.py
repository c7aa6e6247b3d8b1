"""What a project brings that runs code or changes policy, each with a content hash.

An item is named by its path relative to the project directory (``.mcp.json``,
``.moco/profiles/review``, ``.claude/agents``, ``.moco/skills/deploy``, ``AGENTS.md``); a
folder's hash covers every file in it (names and contents, ``__pycache__`` left out), so
adding, changing or removing any file of it changes the hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ItemKind = Literal["mcp", "profile", "agents", "skill", "instructions"]

MCP_FILES = ("mcp.json", ".mcp.json")
INSTRUCTION_FILES = ("AGENTS.md", "CLAUDE.md", "MOCO.md")
AGENT_FOLDERS = (".claude/agents", ".opencode/agent", ".opencode/agents")
SKILL_ROOTS = (".moco/skills", ".claude/skills")
PROFILES_ROOT = ".moco/profiles"


@dataclass(frozen=True)
class ProjectItem:
    """One thing of the project: ``key`` is its path relative to the project directory."""

    key: str
    kind: ItemKind
    path: Path
    digest: str
    #: what it can do, for people: "2 MCP servers: a, b", "profile with tools: x.py"
    what: str


def project_items(working_dir: Path) -> list[ProjectItem]:
    """Every item of ``working_dir`` (see the module docstring), in a stable order."""
    root = Path(working_dir).expanduser().resolve()
    items: list[ProjectItem] = []
    for name in MCP_FILES:
        if (root / name).is_file():
            items.append(_item(root, name, "mcp", _mcp_what(root / name)))
    profiles = root / PROFILES_ROOT
    if profiles.is_dir():
        for folder in sorted(p for p in profiles.iterdir() if p.is_dir()):
            items.append(_item(root, f"{PROFILES_ROOT}/{folder.name}", "profile",
                               _profile_what(folder)))
    for name in AGENT_FOLDERS:
        folder = root / name
        if folder.is_dir() and (count := len(list(folder.glob("*.md")))):
            items.append(_item(root, name, "agents", f"{count} agent(s) joining the team"))
    for name in SKILL_ROOTS:
        if (root / name).is_dir():
            items.extend(_skill_items(root, root / name))
    for name in INSTRUCTION_FILES:
        if (root / name).is_file():
            items.append(_item(root, name, "instructions", "project instructions in the prompt"))
    return items


def digest_of(path: Path) -> str:
    """sha256 of a file, or of a folder's relative file names and contents."""
    hasher = hashlib.sha256()
    if path.is_file():
        hasher.update(_read(path))
        return hasher.hexdigest()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path)
        if "__pycache__" in relative.parts:
            continue
        hasher.update(relative.as_posix().encode() + b"\0")
        hasher.update(hashlib.sha256(_read(file)).digest())
    return hasher.hexdigest()


def _item(root: Path, key: str, kind: ItemKind, what: str) -> ProjectItem:
    path = root / key
    return ProjectItem(key=key, kind=kind, path=path, digest=digest_of(path), what=what)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _mcp_what(path: Path) -> str:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        servers = data.get("mcpServers", data.get("servers")) if isinstance(data, dict) else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return "MCP configuration (unreadable)"
    names = list(servers) if isinstance(servers, dict) else []
    return f"{len(names)} MCP server(s) started as programs or contacted: {', '.join(names)}"


def _profile_what(folder: Path) -> str:
    from moco.trust.gate import loosening_settings

    parts = []
    tools = sorted(p.name for p in (folder / "tools").glob("*.py") if not p.name.startswith("_"))
    if tools:
        parts.append(f"Python tools run in moco: {', '.join(tools)}")
    settings = _profile_settings(folder)
    parts.extend(f"sets {key}" for key in loosening_settings(settings))
    return "profile: " + ("; ".join(parts) if parts else "agents' prompts only")


def _profile_settings(folder: Path) -> dict[str, object]:
    import yaml

    try:
        data = yaml.safe_load((folder / "profile.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _skill_items(root: Path, skills: Path) -> list[ProjectItem]:
    from moco.errors import ConfigError
    from moco.profiles.loader import split_front_matter

    items = []
    for folder in sorted(p for p in skills.iterdir() if (p / "SKILL.md").is_file()):
        try:
            meta, _ = split_front_matter((folder / "SKILL.md").read_text(encoding="utf-8"),
                                         folder / "SKILL.md")
        except (ConfigError, OSError, UnicodeDecodeError):
            continue
        allowed = meta.get("allowed-tools")
        if allowed:
            key = folder.relative_to(root).as_posix()
            items.append(_item(root, key, "skill", f"skill pre-approving tools: {allowed}"))
    return items
