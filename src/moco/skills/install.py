"""Installing, syncing and removing skills in ``$MOCO_HOME/skills``.

An install fetches its source (see :mod:`moco.skills.sources`) into
``$MOCO_HOME/cache/skills``, finds the ``SKILL.md`` folders at the given sub-path or anywhere
below it, validates all of them, and builds an :class:`InstallPlan` (which skills, how many
files, which would overwrite an installed one, which are invalid and why). Nothing is written
to ``$MOCO_HOME/skills`` before the plan is applied; then each skill is copied into
``$MOCO_HOME/skills/<name>/`` (replacing an older copy) with a ``.moco-install.json`` recording
where it came from. A skill whose folder name differs from its name is installed under its
name, with a warning.

Registries are named git sources that ``sync`` installs whole (the skills under their
``skills/`` folder, or anywhere in the repository when it has none). Defaults are
:data:`DEFAULT_REGISTRIES`; ``$MOCO_HOME/config.yaml`` may add or replace them::

    skills:
      registries:
        team: git@example.com:team/skills.git
      git_base: https://github.com      # base URL for owner/repo shorthands

and the environment wins over both: ``MOCO_SKILLS_REGISTRY_<NAME>=<source>`` and
``MOCO_SKILLS_GIT_BASE``. Registry names are case-insensitive, ``_`` and ``-`` are the same.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from moco.errors import ConfigError
from moco.skills.model import (
    SKILL_FILE,
    InvalidSkillError,
    Skill,
    SkillError,
    load_skill_dir,
    skill_file_in,
    validate_name,
)
from moco.skills.sources import (
    DEFAULT_GIT_BASE,
    SkillSource,
    SkillSourceError,
    fetch_git,
    git_commit,
    parse_source,
)

#: ``community``: obra/superpowers, a widely used community collection of skills (TDD,
#: debugging, planning, code review ...) kept in its ``skills/`` folder.
DEFAULT_REGISTRIES: dict[str, str] = {
    "anthropics": "https://github.com/anthropics/skills.git",
    "community": "https://github.com/obra/superpowers.git",
}
REGISTRY_ENV_PREFIX = "MOCO_SKILLS_REGISTRY_"
GIT_BASE_ENV = "MOCO_SKILLS_GIT_BASE"
PROVENANCE_FILE = ".moco-install.json"
MAX_SEARCH_DEPTH = 8
MAX_SKILL_COPY_FILES = 5_000
MAX_SKILL_COPY_BYTES = 200 * 1024 * 1024
#: hidden folders that may hold skills inside a repository
_HIDDEN_SKILL_ROOTS = frozenset({".claude", ".moco", ".agents"})
_NEVER_COPIED = frozenset({".git", ".hg", ".svn", "__pycache__"})


@dataclass(frozen=True)
class SkillSettings:
    """Where skills are installed and where they come from."""

    home: Path
    registries: dict[str, str]
    git_base: str = DEFAULT_GIT_BASE

    @property
    def skills_dir(self) -> Path:
        return self.home / "skills"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache" / "skills"


def skill_settings(
    env: Mapping[str, str] | None = None,
    *,
    home: str | os.PathLike[str] | None = None,
    registries: Mapping[str, str] | None = None,
    git_base: str | None = None,
) -> SkillSettings:
    """Settings from ``config.yaml`` and the environment; explicit arguments win."""
    from moco.config import moco_home

    env = os.environ if env is None else env
    root = Path(home).expanduser() if home is not None else moco_home(env)
    config = _read_skills_config(root / "config.yaml")
    found = dict(DEFAULT_REGISTRIES)
    found.update(config.get("registries") or {})
    for key, value in env.items():
        if key.startswith(REGISTRY_ENV_PREFIX) and value.strip():
            found[key[len(REGISTRY_ENV_PREFIX):]] = value.strip()
    if registries is not None:
        found.update(registries)
    base = git_base or env.get(GIT_BASE_ENV) or config.get("git_base") or DEFAULT_GIT_BASE
    return SkillSettings(
        home=root,
        registries={registry_key(name): url for name, url in found.items()},
        git_base=str(base),
    )


def registry_key(name: str) -> str:
    """The normal form of a registry name: lowercase, ``-`` for ``_``."""
    return name.strip().lower().replace("_", "-")


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class PlannedSkill:
    """One skill an install would write."""

    skill: Skill
    #: where the skill is in the fetched source
    source_dir: Path
    #: ``$MOCO_HOME/skills/<name>``
    target: Path
    overwrites: bool
    #: the skill's folder relative to the fetched source (for provenance)
    relative: str
    warnings: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.skill.name

    @property
    def file_count(self) -> int:
        """Files beside SKILL.md."""
        return len(self.skill.files)


@dataclass
class InstallPlan:
    """What an install would do; :func:`apply_plan` does it. Use it as a context manager (or
    call :meth:`discard`) so a temporary extraction folder is removed."""

    source: SkillSource
    root: Path
    skills: list[PlannedSkill]
    #: skills found but not installable: (path relative to the source, reason)
    invalid: list[tuple[str, str]]
    skills_dir: Path
    commit: str | None = None
    temporary: Path | None = None
    applied: bool = False

    @property
    def overwrites(self) -> list[PlannedSkill]:
        return [item for item in self.skills if item.overwrites]

    def discard(self) -> None:
        if self.temporary is not None:
            shutil.rmtree(self.temporary, ignore_errors=True)
            self.temporary = None

    def __enter__(self) -> InstallPlan:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.discard()


@dataclass
class InstallResult:
    plan: InstallPlan
    installed: list[PlannedSkill] = field(default_factory=list)
    dry_run: bool = False
    cancelled: bool = False


Confirm = Callable[[InstallPlan], bool]


def plan_install(source: str | SkillSource, settings: SkillSettings) -> InstallPlan:
    """Fetch ``source`` and validate the skills in it; nothing is installed yet.

    Raises :class:`SkillError` when the source holds no installable skill.
    """
    parsed = source if isinstance(source, SkillSource) else parse_source(
        source, git_base=settings.git_base, registries=settings.registries
    )
    return _plan_fetched(parsed, settings, _fetch(parsed, settings))


def plan_sync(registry: str, settings: SkillSettings) -> InstallPlan:
    """The plan installing every skill of a registry (see the module docstring)."""
    key = registry_key(registry)
    if key not in settings.registries:
        known = ", ".join(sorted(settings.registries)) or "none"
        raise SkillSourceError(f"unknown skills registry '{registry}'; known: {known}")
    parsed = parse_source(settings.registries[key], git_base=settings.git_base)
    fetched = _fetch(parsed, settings)
    if parsed.subpath is None and (fetched[0] / "skills").is_dir():
        parsed = replace(parsed, subpath="skills")
    return _plan_fetched(replace(parsed, text=f"registry {key}"), settings, fetched)


def _plan_fetched(
    source: SkillSource, settings: SkillSettings, fetched: tuple[Path, Path | None, str | None]
) -> InstallPlan:
    root, temporary, commit = fetched
    try:
        directories = find_skill_dirs(root, source.subpath, label=source.describe())
        plan = _build_plan(source, root, directories, settings)
    except BaseException:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
        raise
    plan.commit, plan.temporary = commit, temporary
    return plan


def apply_plan(plan: InstallPlan) -> list[PlannedSkill]:
    """Copy the plan's skills into ``$MOCO_HOME/skills``; returns what was installed."""
    plan.skills_dir.mkdir(parents=True, exist_ok=True)
    installed: list[PlannedSkill] = []
    for item in plan.skills:
        _install_one(plan, item)
        installed.append(item)
    plan.applied = True
    return installed


def install(
    source: str,
    *,
    home: str | os.PathLike[str] | None = None,
    registries: Mapping[str, str] | None = None,
    git_base: str | None = None,
    assume_yes: bool = False,
    dry_run: bool = False,
    confirm: Confirm | None = None,
    env: Mapping[str, str] | None = None,
) -> InstallResult:
    """Install the skills of ``source`` into ``<home>/skills``.

    ``dry_run`` only plans. Without ``assume_yes``, ``confirm(plan)`` decides; with neither,
    :class:`SkillError` asks for ``assume_yes`` (nothing is installed unasked).
    """
    settings = skill_settings(env, home=home, registries=registries, git_base=git_base)
    with plan_install(source, settings) as plan:
        return _decide(plan, assume_yes=assume_yes, dry_run=dry_run, confirm=confirm)


def sync(
    registry: str,
    *,
    home: str | os.PathLike[str] | None = None,
    registries: Mapping[str, str] | None = None,
    git_base: str | None = None,
    assume_yes: bool = False,
    dry_run: bool = False,
    confirm: Confirm | None = None,
    env: Mapping[str, str] | None = None,
) -> InstallResult:
    """Fetch (or update) a registry and install all its valid skills; see :func:`install`."""
    settings = skill_settings(env, home=home, registries=registries, git_base=git_base)
    with plan_sync(registry, settings) as plan:
        return _decide(plan, assume_yes=assume_yes, dry_run=dry_run, confirm=confirm)


def uninstall(
    name: str,
    home: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Remove the installed skill ``name`` from ``<home>/skills``; returns the removed folder.

    Skills of projects, profiles or ``~/.claude/skills`` are never touched.
    """
    problems = validate_name(name)
    if problems:
        raise SkillSourceError(f"'{name}' is not a skill name: {problems[0]}")
    skills_dir = skill_settings(env, home=home).skills_dir
    target = skills_dir / name.strip()
    if not (target.is_dir() or target.is_symlink()):
        raise SkillError(f"skill '{name}' is not installed in {skills_dir}")
    if target.is_symlink():
        target.unlink()
    else:
        shutil.rmtree(target)
    return target


def read_provenance(skill_dir: Path) -> dict[str, Any]:
    """What ``.moco-install.json`` says about an installed skill ({} when absent)."""
    try:
        data = json.loads((skill_dir / PROVENANCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# --------------------------------------------------------------------------- finding skills


def find_skill_dirs(root: Path, subpath: str | None = None, *, label: str = "") -> list[Path]:
    """The skill folders of a fetched source: ``root/subpath`` itself when it holds a
    ``SKILL.md``, else every folder below it that does (not looking inside a skill)."""
    start = root
    if subpath:
        start = (root / subpath).resolve()
        if not start.is_relative_to(root.resolve()):
            raise SkillSourceError(f"path '{subpath}' leaves the source {label}")
        if not start.is_dir():
            raise SkillSourceError(f"no folder '{subpath}' in {label or root}")
    if skill_file_in(start) is not None:
        return [start]
    return sorted(_skill_dirs_below(start, depth=0))


def _skill_dirs_below(folder: Path, depth: int) -> Iterator[Path]:
    if depth > MAX_SEARCH_DEPTH:
        return
    try:
        children = sorted(child for child in folder.iterdir()
                          if child.is_dir() and not child.is_symlink())
    except OSError:
        return
    for child in children:
        hidden = child.name.startswith(".") and child.name not in _HIDDEN_SKILL_ROOTS
        if hidden or child.name in _NEVER_COPIED or child.name == "node_modules":
            continue
        if skill_file_in(child) is not None:
            yield child
        else:
            yield from _skill_dirs_below(child, depth + 1)


def _build_plan(
    source: SkillSource, root: Path, directories: list[Path], settings: SkillSettings
) -> InstallPlan:
    planned: dict[str, PlannedSkill] = {}
    invalid: list[tuple[str, str]] = []
    for directory in directories:
        relative = _relative(directory, root)
        try:
            skill = load_skill_dir(directory, check_folder=False)
        except InvalidSkillError as error:
            invalid.append((_relative(error.path, root), "; ".join(error.reasons)))
            continue
        if source.only is not None and skill.name != source.only:
            continue
        if skill.name in planned:
            invalid.append((relative, f"duplicate skill name '{skill.name}'"))
            continue
        warnings = list(skill.warnings)
        if directory != root and directory.name != skill.name:
            warnings.append(f"folder '{directory.name}' differs from the name; "
                            f"installed as '{skill.name}'")
        target = settings.skills_dir / skill.name
        planned[skill.name] = PlannedSkill(
            skill, directory, target, target.exists(), relative, tuple(warnings)
        )
    plan = InstallPlan(source, root, list(planned.values()), invalid, settings.skills_dir)
    if not plan.skills:
        raise SkillError(_nothing_to_install(source, invalid))
    return plan


def _nothing_to_install(source: SkillSource, invalid: list[tuple[str, str]]) -> str:
    if source.only is not None:
        return f"no valid skill named '{source.only}' in {source.describe()}"
    detail = f" ({invalid[0][0]}: {invalid[0][1]})" if invalid else ""
    count = f"{len(invalid)} invalid, " if invalid else ""
    return f"no valid skill found in {source.describe()}: {count}none installable{detail}"


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix() or "."
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- fetching


def _fetch(source: SkillSource, settings: SkillSettings) -> tuple[Path, Path | None, str | None]:
    """``(tree root, temporary folder to remove or None, commit or None)``."""
    from moco.skills.archive import download, extract_archive

    cache = settings.cache_dir
    if source.kind == "git":
        checkout = fetch_git(source.location, source.ref, cache / "git")
        return checkout, None, git_commit(checkout)
    if source.kind == "dir":
        return Path(source.location), None, None
    cache.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix="extract-", dir=cache))
    try:
        archive = Path(source.location)
        if source.kind == "url":
            archive = download(source.location, temporary / "download")
        extract_archive(archive, temporary / "tree")
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return temporary / "tree", temporary, None


# --------------------------------------------------------------------------- applying


def _decide(
    plan: InstallPlan, *, assume_yes: bool, dry_run: bool, confirm: Confirm | None
) -> InstallResult:
    if dry_run:
        return InstallResult(plan, dry_run=True)
    if not assume_yes:
        if confirm is None:
            raise SkillError("installing skills needs a confirmation: pass assume_yes (--yes)")
        if not confirm(plan):
            return InstallResult(plan, cancelled=True)
    return InstallResult(plan, installed=apply_plan(plan))


def _install_one(plan: InstallPlan, item: PlannedSkill) -> None:
    skills_dir = plan.skills_dir
    staging = skills_dir / f".{item.name}.installing"
    retired = skills_dir / f".{item.name}.old"
    for leftover in (staging, retired):
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        copy_skill_tree(item.source_dir, staging)
        _write_provenance(plan, item, staging)
        if item.target.is_symlink():
            item.target.unlink()
        elif item.target.exists():
            item.target.rename(retired)
        staging.rename(item.target)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        if retired.exists() and not item.target.exists():
            retired.rename(item.target)
        raise SkillError(f"cannot install {item.name} into {item.target}: {error}") from None
    finally:
        shutil.rmtree(retired, ignore_errors=True)


def copy_skill_tree(source: Path, dest: Path) -> list[str]:
    """Copy a skill folder: regular files and folders only. A symbolic link to a file inside
    the skill becomes a copy; other links and special files are skipped (returned)."""
    root = source.resolve()
    skipped: list[str] = []
    count = total = 0
    for folder, dirnames, filenames in os.walk(root):
        here = Path(folder)
        target_dir = dest / here.relative_to(root)
        target_dir.mkdir(parents=True, exist_ok=True)
        for name in list(dirnames):
            if name in _NEVER_COPIED or (here / name).is_symlink():
                dirnames.remove(name)
                if (here / name).is_symlink():
                    skipped.append((here / name).relative_to(root).as_posix())
        for name in filenames:
            path = here / name
            real = path.resolve()
            if not (real.is_file() and real.is_relative_to(root)):
                skipped.append(path.relative_to(root).as_posix())
                continue
            count += 1
            total += real.stat().st_size
            if count > MAX_SKILL_COPY_FILES or total > MAX_SKILL_COPY_BYTES:
                raise SkillError(f"skill folder {source} is too large to install")
            shutil.copyfile(real, target_dir / name)
            executable = os.access(real, os.X_OK)
            (target_dir / name).chmod(0o755 if executable else 0o644)
    if not (dest / SKILL_FILE).is_file() and (dest / "skill.md").is_file():
        (dest / "skill.md").rename(dest / SKILL_FILE)
    return skipped


def _write_provenance(plan: InstallPlan, item: PlannedSkill, folder: Path) -> None:
    record = {
        "name": item.name,
        "source": plan.source.text,
        "location": plan.source.location,
        "ref": plan.source.ref,
        "path": item.relative,
        "commit": plan.commit,
        "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (folder / PROVENANCE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- config


def _read_skills_config(path: Path) -> dict[str, Any]:
    """The ``skills`` section of ``config.yaml`` ({} when absent)."""
    if not path.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"malformed YAML in {path}: {' '.join(str(error).split())}") from None
    section = data.get("skills") if isinstance(data, dict) else None
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: 'skills' must be a mapping")
    registries = section.get("registries")
    if registries is not None and not (
        isinstance(registries, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in registries.items())
    ):
        raise ConfigError(f"{path}: 'skills.registries' must map names to git URLs")
    return section
