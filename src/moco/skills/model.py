"""Agent Skills: a folder holding ``SKILL.md`` (YAML front matter + Markdown instructions) and
any files beside it (scripts, references, assets).

Front matter, as published in the Agent Skills specification (agentskills.io) and used by
Claude Code:

- ``name`` (required): 1-64 characters, lowercase letters, digits and hyphens, no leading,
  trailing or consecutive hyphens, equal to the skill's folder name;
- ``description`` (required): what the skill does and when to use it; non-empty, at most 1024
  characters, no XML tags;
- ``license``, ``compatibility`` (at most 500 characters), ``metadata`` (a mapping) and
  ``allowed-tools`` (a YAML list, or a string separated by spaces or commas: tools the skill
  may use *without asking*) are optional;
- any other key is kept in :attr:`Skill.extra`.

The words ``anthropic`` and ``claude`` are reserved in names by the Claude API's upload
endpoint, yet Anthropic's own repository publishes ``claude-api``: a name containing them is a
warning here, not an error, so the official skills install.

Files a ``SKILL.md`` mentions are never required to exist: the listing of a skill's files is
what is really there (capped at :data:`MAX_FILES`).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moco.errors import ConfigError, MocoError

SKILL_FILE = "SKILL.md"
#: file names accepted for a skill, in order of preference
SKILL_FILE_NAMES = ("SKILL.md", "skill.md")
MAX_NAME_CHARS = 64
MAX_DESCRIPTION_CHARS = 1024
MAX_COMPATIBILITY_CHARS = 500
MAX_SKILL_FILE_BYTES = 1_000_000
#: at most this many files are listed for a skill
MAX_FILES = 200
RESERVED_WORDS = ("anthropic", "claude")
#: directories never listed among a skill's files
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv"})

KNOWN_KEYS = ("name", "description", "license", "compatibility", "metadata", "allowed-tools")
_XML_TAG = re.compile(r"</?[A-Za-z][\w.:-]*(\s[^<>]*)?/?>")
_TOOL_TOKEN = re.compile(r"[^\s,()]+(?:\([^)]*\))?")


class SkillError(MocoError):
    """A skill cannot be used, found, installed or removed; the message says why."""


class InvalidSkillError(SkillError):
    """A ``SKILL.md`` is malformed or breaks the Agent Skills rules."""

    def __init__(self, path: Path, reasons: list[str]) -> None:
        self.path = path
        self.reasons = reasons
        super().__init__(f"{path}: {'; '.join(reasons)}")


@dataclass(frozen=True)
class Skill:
    """A loaded, valid skill."""

    name: str
    description: str
    #: the skill's folder (absolute)
    path: Path
    #: the Markdown instructions after the front matter
    body: str
    license: str | None = None
    compatibility: str | None = None
    #: tools the skill may use without asking, as written (``Read``, ``Bash(git:*)`` ...)
    allowed_tools: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    #: front matter keys the specification does not define, kept as written
    extra: dict[str, Any] = field(default_factory=dict)
    #: files beside SKILL.md, relative POSIX paths, sorted
    files: tuple[str, ...] = ()
    #: more files exist than :data:`MAX_FILES`
    files_truncated: bool = False
    #: problems that do not make the skill unusable
    warnings: tuple[str, ...] = ()

    @property
    def skill_file(self) -> Path:
        return skill_file_in(self.path) or self.path / SKILL_FILE

    def file_paths(self) -> list[Path]:
        """The absolute paths of :attr:`files`."""
        return [self.path / relative for relative in self.files]


def skill_file_in(directory: Path) -> Path | None:
    """The ``SKILL.md`` of ``directory`` (``skill.md`` is accepted too), if it has one."""
    for name in SKILL_FILE_NAMES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def load_skill_dir(directory: str | os.PathLike[str], *, check_folder: bool = True) -> Skill:
    """Read and validate the skill in ``directory``.

    ``check_folder=False`` skips the rule that the name equals the folder name (the installer
    copies a skill into a folder named after it). Raises :class:`InvalidSkillError` listing
    every problem found.
    """
    given = Path(directory).expanduser().absolute()
    folder = given.resolve()
    skill_md = skill_file_in(folder)
    if skill_md is None:
        raise InvalidSkillError(folder, [f"no {SKILL_FILE} in the folder"])
    meta, body = _read_front_matter(skill_md)
    # a symlinked skill folder is named by its link (~/.claude/skills/x -> ~/src/x-repo)
    errors, warnings = validate_front_matter(meta, given.name if check_folder else None)
    allowed, allowed_errors = parse_allowed_tools(meta.get("allowed-tools"))
    errors += allowed_errors
    metadata = meta.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        errors.append("'metadata' must be a mapping of keys to values")
    if errors:
        raise InvalidSkillError(skill_md, errors)
    files, truncated = list_skill_files(folder)
    return Skill(
        name=_normalized(meta["name"]),
        description=meta["description"].strip(),
        path=folder,
        body=body,
        license=_text_or_none(meta.get("license")),
        compatibility=_text_or_none(meta.get("compatibility")),
        allowed_tools=allowed,
        metadata={str(key): value for key, value in (metadata or {}).items()},
        extra={key: value for key, value in meta.items() if key not in KNOWN_KEYS},
        files=tuple(files),
        files_truncated=truncated,
        warnings=tuple(warnings),
    )


def validate_front_matter(
    meta: Mapping[str, Any], folder_name: str | None
) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` for a parsed front matter whose skill lives in ``folder_name``
    (``None``: do not compare the name with the folder)."""
    errors: list[str] = []
    warnings: list[str] = []
    name = meta.get("name")
    if name is None:
        errors.append("missing required field 'name'")
    else:
        errors += validate_name(name)
        folder = unicodedata.normalize("NFKC", folder_name) if folder_name else None
        if not errors and folder is not None and _normalized(name) != folder:
            errors.append(f"name '{name}' must equal its folder name '{folder_name}'")
        if isinstance(name, str) and any(word in name.lower() for word in RESERVED_WORDS):
            warnings.append(
                f"name '{name}' contains a reserved word ({' or '.join(RESERVED_WORDS)})"
            )
    description = meta.get("description")
    if description is None:
        errors.append("missing required field 'description'")
    else:
        errors += validate_description(description)
    compatibility = meta.get("compatibility")
    if compatibility is not None:
        if not isinstance(compatibility, str):
            errors.append("'compatibility' must be text")
        elif len(compatibility) > MAX_COMPATIBILITY_CHARS:
            errors.append(f"'compatibility' is longer than {MAX_COMPATIBILITY_CHARS} characters")
    license_value = meta.get("license")
    if license_value is not None and not isinstance(license_value, str):
        errors.append("'license' must be text")
    return errors, warnings


def validate_name(name: Any) -> list[str]:
    """The problems of a skill name (empty when it is valid)."""
    if not isinstance(name, str) or not name.strip():
        return ["'name' must be non-empty text"]
    text = _normalized(name)
    problems: list[str] = []
    if len(text) > MAX_NAME_CHARS:
        problems.append(f"name '{text}' is longer than {MAX_NAME_CHARS} characters")
    if not all((char.isalnum() and char == char.lower()) or char == "-" for char in text):
        problems.append(f"name '{text}' may only contain lowercase letters, digits and hyphens")
    if text.startswith("-") or text.endswith("-"):
        problems.append(f"name '{text}' may not start or end with a hyphen")
    if "--" in text:
        problems.append(f"name '{text}' may not contain consecutive hyphens")
    return problems


def validate_description(description: Any) -> list[str]:
    """The problems of a skill description (empty when it is valid)."""
    if not isinstance(description, str) or not description.strip():
        return ["'description' must be non-empty text"]
    problems: list[str] = []
    if len(description.strip()) > MAX_DESCRIPTION_CHARS:
        problems.append(
            f"'description' is longer than {MAX_DESCRIPTION_CHARS} characters "
            f"({len(description.strip())})"
        )
    tag = _XML_TAG.search(description)
    if tag:
        problems.append(f"'description' may not contain XML tags ({tag.group(0)})")
    return problems


def parse_allowed_tools(value: Any) -> tuple[tuple[str, ...], list[str]]:
    """``(tools, errors)`` from an ``allowed-tools`` value: a YAML list of names, or one string
    of names separated by spaces or commas. ``Bash(git:*)`` stays one entry."""
    if value is None:
        return (), []
    if isinstance(value, str):
        return tuple(dict.fromkeys(_TOOL_TOKEN.findall(value))), []
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        names = (item.strip() for item in value)
        return tuple(dict.fromkeys(name for name in names if name)), []
    return (), ["'allowed-tools' must be a list of tool names or a string of them"]


def list_skill_files(folder: Path, limit: int = MAX_FILES) -> tuple[list[str], bool]:
    """Files under ``folder`` except its SKILL.md, as sorted relative POSIX paths, and whether
    the listing stopped at ``limit``. Hidden entries, VCS and cache folders are skipped; a
    symlink is listed only when it points inside the folder."""
    found: list[str] = []
    for path in _walk_files(folder):
        relative = path.relative_to(folder).as_posix()
        if relative in SKILL_FILE_NAMES:
            continue
        if len(found) >= limit:
            return found, True
        found.append(relative)
    return found, False


def _walk_files(folder: Path) -> Iterator[Path]:
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return
    root = folder.resolve()
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        if entry.is_symlink():
            target = path.resolve()
            if target.is_file() and target.is_relative_to(root):
                yield path
        elif entry.is_dir():
            if entry.name not in SKIPPED_DIRS:
                yield from _walk_files(path)
        elif entry.is_file():
            yield path


def _read_front_matter(skill_md: Path) -> tuple[dict[str, Any], str]:
    from moco.profiles.loader import split_front_matter

    try:
        if skill_md.stat().st_size > MAX_SKILL_FILE_BYTES:
            raise InvalidSkillError(skill_md, [f"larger than {MAX_SKILL_FILE_BYTES} bytes"])
        text = skill_md.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidSkillError(skill_md, ["not valid UTF-8 text"]) from None
    except OSError as error:
        raise InvalidSkillError(skill_md, [f"cannot read: {error.strerror or error}"]) from None
    if not text.removeprefix("\ufeff").startswith("---"):
        raise InvalidSkillError(skill_md, ["no YAML front matter (the file must start with ---)"])
    try:
        return split_front_matter(text, skill_md)
    except ConfigError as error:
        reason = str(error).replace(f"{skill_md}: ", "").replace(f" in {skill_md}", "")
        raise InvalidSkillError(skill_md, [reason]) from None


def _normalized(name: str) -> str:
    return unicodedata.normalize("NFKC", name.strip())


def _text_or_none(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
