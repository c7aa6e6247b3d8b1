"""Profiles are data: ``profile.yaml`` + ``agents/*.md`` + ``tools/*.py`` + ``skills/``.

A profile is a folder::

    <name>/
      profile.yaml        description, include_base_tools, default_agent, anything else -> settings
      agents/<agent>.md   YAML front matter + Markdown prompt (Claude Code / OpenCode format)
      tools/*.py          functions marked ``@tool`` become the profile's own tools; a module
                          without any ``@tool`` (the original MOCO's way) offers its public
                          functions that have a docstring instead, with a note suggesting ``@tool``
      skills/             skills of this profile (optional)

Profiles are found by name, first match wins: ``<working dir>/.moco/profiles``,
``$MOCO_HOME/profiles`` (default ``~/.moco/profiles``), ``~/.moco/profiles`` when that differs,
each folder of ``MOCO_PROFILES_PATH`` (``os.pathsep``-separated), then the built-in profiles
shipped in this package. A name containing a path separator, or starting with ``.`` or ``~``,
is a folder path instead.

Agent front matter (every key optional):

- ``description``: when to use the agent (shown to agents that can delegate);
- ``mode``: ``primary`` | ``subagent`` | ``chat`` | ``all`` — ``all`` when absent, as in OpenCode;
- ``tools``: ``"*"`` or absent for all tools; a list or a comma-separated string (Claude Code:
  ``"Read, Grep, Glob"``) to allow only those; or a ``{name: true|false}`` map. In a map the
  ``true`` entries are the allow-list (``{read_file: true, write_file: true}``: exactly those two)
  and the ``false`` entries are removed; a map of only ``false`` entries (OpenCode's way,
  ``{bash: false, write: false}``) means every tool except those. ``"*": true`` in a map keeps
  every tool (minus the ``false`` entries), ``"*": false`` keeps only the ``true`` ones. Names
  may be wildcards (``mcp_*``); Claude Code, OpenCode and the original MOCO's tool names are
  mapped to moco's (:data:`TOOL_NAME_ALIASES`);
- ``model`` (``inherit`` means none), ``temperature``, ``max_turns`` (also ``maxTurns``,
  ``steps``, ``maxSteps``); any other key is kept in :attr:`AgentSpec.extra`.

A file that starts with a YAML mapping naming agent keys, then a ``---`` line, then the prompt
(the opening ``---`` forgotten) is read as front matter, with a note in
:attr:`AgentSpec.notes` (shown by ``moco list-profiles`` and at run start).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

import yaml

from moco.errors import ConfigError

if TYPE_CHECKING:
    from moco.tools.base import Tool

AgentMode = Literal["primary", "subagent", "chat", "all"]
ProfileSource = Literal["project", "user", "env", "builtin", "path"]

AGENT_MODES: tuple[str, ...] = ("primary", "subagent", "chat", "all")
BUILTIN_DIR = Path(__file__).resolve().parent

#: Claude Code and OpenCode tool names (matched case-insensitively) -> moco tool names.
TOOL_NAME_ALIASES: dict[str, str] = {
    "read": "read_file",
    "write": "write_file",
    "edit": "edit_file",
    "multiedit": "edit_file",
    "bash": "execute_bash",
    "grep": "grep",
    "glob": "glob_search",
    "ls": "list_dir",
    "list": "list_dir",
    "todowrite": "todowrite",
    "todoread": "todoread",
    "webfetch": "web_fetch",
    "websearch": "web_search",
    "task": "delegate_to_agent",
}

_PROFILE_KEYS = ("name", "description", "include_base_tools", "default_agent")
_AGENT_KEYS = ("name", "description", "mode", "tools", "model", "temperature", "prompt")
_MAX_TURNS_KEYS = ("max_turns", "maxTurns", "steps", "maxSteps")
_TOOL_TOKEN = re.compile(r"[^\s,()]+(?:\([^)]*\))?")
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class AgentSpec:
    """One agent of a profile, as written in ``agents/<name>.md``."""

    name: str
    description: str = ""
    mode: AgentMode = "all"
    #: allowed tool names or wildcards; ``None`` means every tool
    tools: tuple[str, ...] | None = None
    #: tool names or wildcards removed from the selection (wins over ``tools``)
    excluded_tools: tuple[str, ...] = ()
    model: str | None = None
    temperature: float | None = None
    max_turns: int | None = None
    prompt: str = ""
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: what loading had to guess about this file, one line each (see :mod:`moco.profiles.problems`)
    notes: tuple[str, ...] = ()

    def allows_tool(self, name: str) -> bool:
        """Whether the tool ``name`` is in this agent's selection."""
        if any(fnmatchcase(name, pattern) for pattern in self.excluded_tools):
            return False
        return self.tools is None or any(fnmatchcase(name, pattern) for pattern in self.tools)


@dataclass(frozen=True)
class Profile:
    """A loaded profile: its agents, its own tools and its settings."""

    name: str
    agents: dict[str, AgentSpec]
    description: str = ""
    include_base_tools: bool = True
    default_agent: str | None = None
    tools: tuple[Tool, ...] = ()
    skills_dir: Path | None = None
    path: Path | None = None
    source: ProfileSource = "builtin"
    #: every other key of profile.yaml (mcp_servers, permissions ...), uninterpreted
    settings: dict[str, Any] = field(default_factory=dict)
    #: what loading dropped, one line each: an agent's unknown tools (one line per agent),
    #: a skill of ``skills/`` that fails validation (see :mod:`moco.profiles.problems`)
    problems: tuple[str, ...] = ()

    def primary_agent(self) -> AgentSpec:
        """The agent a run starts with: ``default_agent`` when set, else the first agent of mode
        ``primary``, else the one named ``orchestrator``, else the first agent."""
        if self.default_agent is not None:
            return self.agents[self.default_agent]
        for agent in self.agents.values():
            if agent.mode == "primary":
                return agent
        if "orchestrator" in self.agents:
            return self.agents["orchestrator"]
        return next(iter(self.agents.values()))


@dataclass(frozen=True)
class ProfileInfo:
    """One line of ``list_profiles``; ``error`` is set when the profile cannot be loaded."""

    name: str
    agent_count: int
    description: str
    location: Path
    source: ProfileSource
    error: str | None = None
    #: the profile's :attr:`Profile.problems`
    problems: tuple[str, ...] = ()


# --------------------------------------------------------------------------- public API


def load_profile(
    name_or_path: str | os.PathLike[str],
    working_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    trusted: Callable[[Path], bool] | None = None,
) -> Profile:
    """Load a profile by name (searched as described in the module docstring) or by folder path.

    ``trusted`` (None: every folder is) says whether a project profile folder is trusted: an
    untrusted one never shadows a profile of the same name found later in the search, and its
    ``tools/*.py`` are not imported (:mod:`moco.trust.gate` drops the rest).

    Raises :class:`ConfigError` for an unknown profile (listing the available ones) and for
    anything malformed in it, naming the file (and the line, for YAML errors).
    """
    env = os.environ if env is None else env
    if _looks_like_path(name_or_path):
        directory = Path(name_or_path).expanduser()
        if not directory.is_dir():
            raise ConfigError(f"profile folder not found: {directory}")
        return _read_profile(directory.resolve(), "path", load_tools=True)
    name = str(name_or_path).strip()
    for root, source in search_roots(working_dir, env):
        candidate = root / name
        if not name or not _is_profile_dir(candidate):
            continue
        if source != "project" or trusted is None or trusted(candidate):
            return _read_profile(candidate, source, load_tools=True)
        if not any(_is_profile_dir(r / name) for r, s in search_roots(working_dir, env)
                   if s != "project"):
            return _read_profile(candidate, source, load_tools=False)
    available = sorted({info.name for info in list_profiles(working_dir, env)})
    raise ConfigError(
        f"unknown profile '{name}'; available: {', '.join(available) or 'none'} "
        "(or give the path of a profile folder)"
    )


def list_profiles(
    working_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> list[ProfileInfo]:
    """Every profile found, in search order; the first of several with one name wins.

    Profile tools are not imported for the listing; a profile whose files are malformed is
    listed with its ``error`` instead of breaking the listing.
    """
    env = os.environ if env is None else env
    found: dict[str, ProfileInfo] = {}
    for root, source in search_roots(working_dir, env):
        for directory in _profile_dirs(root):
            if directory.name in found:
                continue
            try:
                profile = _read_profile(directory, source, load_tools=False)
            except ConfigError as error:
                found[directory.name] = ProfileInfo(
                    directory.name, 0, "", directory, source, error=str(error)
                )
                continue
            found[directory.name] = ProfileInfo(
                profile.name, len(profile.agents), profile.description, directory, source,
                problems=profile.problems,
            )
    return list(found.values())


def search_roots(
    working_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> list[tuple[Path, ProfileSource]]:
    """The folders searched for profiles, in order, each with its source; duplicates removed."""
    env = os.environ if env is None else env
    base = Path(working_dir) if working_dir is not None else Path.cwd()
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    moco_home = Path(env["MOCO_HOME"]).expanduser() if env.get("MOCO_HOME") else home / ".moco"
    roots: list[tuple[Path, ProfileSource]] = [
        (base / ".moco" / "profiles", "project"),
        (moco_home / "profiles", "user"),
        (home / ".moco" / "profiles", "user"),
    ]
    for entry in env.get("MOCO_PROFILES_PATH", "").split(os.pathsep):
        if entry.strip():
            roots.append((Path(entry.strip()).expanduser(), "env"))
    roots.append((BUILTIN_DIR, "builtin"))
    unique: list[tuple[Path, ProfileSource]] = []
    seen: set[Path] = set()
    for root, source in roots:
        resolved = root.resolve()
        if resolved not in seen:
            seen.add(resolved)
            unique.append((resolved, source))
    return unique


def load_agent(path: Path) -> AgentSpec:
    """Read one agent file: optional ``---`` YAML front matter, then the Markdown prompt."""
    text = _read_text(path)
    meta, body = split_front_matter(text, path)
    unopened = None if meta else _unopened_front_matter(text, path)
    if unopened is None:
        return _agent_from_meta(path, meta, body)
    note = ("front matter has no opening '---' line; read as front matter anyway "
            "(add '---' as the first line)")
    return replace(_agent_from_meta(path, *unopened), notes=(note,))


def split_front_matter(text: str, path: Path) -> tuple[dict[str, Any], str]:
    """Split ``---\\n<yaml>\\n---\\n<body>`` into the parsed mapping and the stripped body.

    A text without an opening ``---`` line is all body. YAML errors report the line in the file.
    """
    lines = text.removeprefix("\ufeff").split("\n")
    if not lines or lines[0].rstrip() != "---":
        return {}, text.removeprefix("\ufeff").strip()
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() == "---"), None)
    if end is None:
        raise ConfigError(f"{path}: front matter opened with '---' on line 1 is never closed")
    data = _parse_yaml("\n".join(lines[1:end]), path, line_offset=1)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: front matter must be a mapping of keys to values")
    return data, "\n".join(lines[end + 1 :]).strip()


def _unopened_front_matter(text: str, path: Path) -> tuple[dict[str, Any], str] | None:
    """``<yaml mapping>\n---\n<body>`` whose opening ``---`` is missing: the mapping and the
    body, when the lines before the first ``---`` line are a YAML mapping naming at least one
    agent key (so a prompt that merely contains a ``---`` rule stays a prompt); else None."""
    lines = text.removeprefix("\ufeff").split("\n")
    end = next((i for i, line in enumerate(lines) if line.rstrip() == "---"), None)
    if not end:
        return None
    try:
        data = yaml.load("\n".join(lines[:end]), Loader=_Loader)
    except yaml.YAMLError:
        return None
    known = {*_AGENT_KEYS, *_MAX_TURNS_KEYS}
    if not isinstance(data, dict) or not any(key in known for key in data):
        return None
    return data, "\n".join(lines[end + 1 :]).strip()


def normalize_tools(value: Any, path: Path) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """Turn a ``tools`` value into ``(allowed or None for all, excluded)``; see module docs."""
    if value is None:
        return None, ()
    if isinstance(value, str):
        return _allowed(_TOOL_TOKEN.findall(value)), ()
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{path}: 'tools' list entries must be tool names")
        return _allowed(value), ()
    if isinstance(value, dict):
        return _tools_from_map(value, path)
    raise ConfigError(
        f"{path}: 'tools' must be \"*\", a list, a comma-separated string or a "
        f"{{name: true|false}} map, not {type(value).__name__}"
    )


def canonical_tool_name(name: str) -> str:
    """moco's name for a Claude Code / OpenCode tool name; other names are unchanged."""
    return TOOL_NAME_ALIASES.get(name.strip().lower(), name.strip())


# --------------------------------------------------------------------------- profiles


def _looks_like_path(value: str | os.PathLike[str]) -> bool:
    if not isinstance(value, str):
        return True
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(sep in value for sep in separators) or value.startswith((".", "~"))


def _is_profile_dir(directory: Path) -> bool:
    return directory.is_dir() and (
        (directory / "profile.yaml").is_file() or (directory / "agents").is_dir()
    )


def _profile_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    try:
        children = sorted(root.iterdir())
    except OSError:
        return []
    return [child for child in children if _is_profile_dir(child)]


def _read_profile(directory: Path, source: ProfileSource, *, load_tools: bool) -> Profile:
    settings = _read_profile_yaml(directory / "profile.yaml")
    agents = _read_agents(directory)
    yaml_path = directory / "profile.yaml"
    description = _optional_str(settings.pop("description", None), "description", yaml_path)
    default_agent = _optional_str(settings.pop("default_agent", None), "default_agent", yaml_path)
    include_base_tools = settings.pop("include_base_tools", True)
    if not isinstance(include_base_tools, bool):
        raise ConfigError(f"{yaml_path}: 'include_base_tools' must be true or false")
    _optional_str(settings.pop("name", None), "name", yaml_path)
    if default_agent is not None and default_agent not in agents:
        raise ConfigError(
            f"{yaml_path}: default_agent '{default_agent}' is not one of the agents "
            f"({', '.join(agents)})"
        )
    skills_dir = directory / "skills"
    tools, tool_notes = _load_profile_tools(directory / "tools") if load_tools else ((), ())
    from moco.profiles.problems import load_problems

    return Profile(
        name=directory.name,
        description=description or "",
        include_base_tools=include_base_tools,
        default_agent=default_agent,
        agents=agents,
        tools=tools,
        skills_dir=skills_dir if skills_dir.is_dir() else None,
        path=directory,
        source=source,
        settings=settings,
        problems=load_problems(directory, agents, include_base_tools,
                               tools if load_tools else None, tool_notes),
    )


def _read_profile_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = _parse_yaml(_read_text(path), path, line_offset=0)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: profile.yaml must be a mapping of keys to values")
    return data


def _read_agents(directory: Path) -> dict[str, AgentSpec]:
    agents_dir = directory / "agents"
    files = sorted(agents_dir.glob("*.md")) if agents_dir.is_dir() else []
    if not files:
        raise ConfigError(
            f"profile '{directory.name}' ({directory}) has no agents; add agents/<name>.md"
        )
    return {path.stem: load_agent(path) for path in files}


# --------------------------------------------------------------------------- agents


def _agent_from_meta(path: Path, meta: dict[str, Any], body: str) -> AgentSpec:
    mode: Any = meta.get("mode") or "all"
    if mode not in AGENT_MODES:
        raise ConfigError(f"{path}: unknown mode '{mode}' (use one of {', '.join(AGENT_MODES)})")
    tools, excluded = normalize_tools(meta.get("tools"), path)
    model = _optional_str(meta.get("model"), "model", path)
    prompt = body or (_optional_str(meta.get("prompt"), "prompt", path) or "").strip()
    extra = {
        key: value
        for key, value in meta.items()
        if key not in _AGENT_KEYS and key not in _MAX_TURNS_KEYS
    }
    if body and "prompt" in meta:
        extra["prompt"] = meta["prompt"]
    return AgentSpec(
        name=path.stem,
        description=(_optional_str(meta.get("description"), "description", path) or "").strip(),
        mode=mode,
        tools=tools,
        excluded_tools=excluded,
        model=None if model in (None, "", "inherit") else model,
        temperature=_temperature(meta.get("temperature"), path),
        max_turns=_max_turns(meta, path),
        prompt=prompt,
        path=path,
        extra=extra,
    )


def _temperature(value: Any, path: Path) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{path}: 'temperature' must be a number")
    return float(value)


def _max_turns(meta: Mapping[str, Any], path: Path) -> int | None:
    for key in _MAX_TURNS_KEYS:
        value = meta.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{path}: '{key}' must be a positive whole number")
        return value
    return None


def _optional_str(value: Any, key: str, path: Path) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(f"{path}: '{key}' must be text, not {type(value).__name__}")


def _allowed(names: Iterable[str]) -> tuple[str, ...] | None:
    picked = [canonical_tool_name(name) for name in names if name.strip()]
    if "*" in picked:
        return None
    return tuple(dict.fromkeys(picked))


def _tools_from_map(
    value: dict[Any, Any], path: Path
) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """``true`` entries are the allow-list, ``false`` entries removed; only ``false`` entries (or
    ``"*": true``): everything but those."""
    enabled: list[str] = []
    disabled: list[str] = []
    everything: bool | None = None
    for key, flag in value.items():
        if not isinstance(key, str) or not isinstance(flag, bool):
            raise ConfigError(f"{path}: 'tools' map entries must be 'name: true' or 'name: false'")
        name = canonical_tool_name(key)
        if name == "*":
            everything = flag
        else:
            (enabled if flag else disabled).append(name)
    if everything is None:
        everything = not enabled
    allowed = None if everything else tuple(dict.fromkeys(enabled))
    return allowed, tuple(dict.fromkeys(disabled))


# --------------------------------------------------------------------------- files


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid UTF-8 text") from None
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None


def _parse_yaml(text: str, path: Path, *, line_offset: int) -> Any:
    """Parse YAML; ``line_offset`` is the 0-based line of the file where ``text`` starts."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "invalid YAML"
        where = f" at line {mark.line + 1 + line_offset}" if mark is not None else ""
        raise ConfigError(f"malformed YAML in {path}{where}: {problem}") from None
    except yaml.YAMLError as error:
        detail = " ".join(str(error).split())
        raise ConfigError(f"malformed YAML in {path}: {detail}") from None


def _load_profile_tools(tools_dir: Path) -> tuple[tuple[Tool, ...], tuple[str, ...]]:
    """Import ``tools/*.py`` (not ``_*.py``); every function marked ``@tool`` is a tool. A
    module with no ``@tool`` of its own offers its public functions that have a docstring
    (the original MOCO's way), with a note. Returns the tools and the notes."""
    if not tools_dir.is_dir():
        return (), ()
    from moco.tools.base import get_tool

    found: dict[str, tuple[Tool, Path]] = {}
    notes: list[str] = []
    for path in sorted(tools_dir.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = _import_file(path)
        built_tools = [built for value in vars(module).values()
                       if (built := get_tool(value)) is not None]
        if not any(t.function.__module__ == module.__name__ for t in built_tools):
            undecorated, module_notes = _undecorated_tools(module, path)
            built_tools += undecorated
            notes += module_notes
        for built in built_tools:
            previous = found.get(built.name)
            if previous is not None and previous[0].function is not built.function:
                raise ConfigError(
                    f"{path}: tool '{built.name}' is also defined in {previous[1]}; "
                    "tool names must be unique in a profile"
                )
            found.setdefault(built.name, (built, path))
    return tuple(item for item, _ in found.values()), tuple(notes)


def _undecorated_tools(module: ModuleType, path: Path) -> tuple[list[Tool], list[str]]:
    """The public functions defined in ``module`` (not imported into it) that have a docstring,
    built as tools (not marked as changing anything, as ``@tool`` assumes), and the notes."""
    from moco.profiles import problems
    from moco.tools.base import ToolDefinitionError, build_tool

    built: list[Tool] = []
    notes: list[str] = []
    for name, value in vars(module).items():
        if (name.startswith("_") or not inspect.isfunction(value)
                or value.__module__ != module.__name__ or not inspect.getdoc(value)):
            continue
        try:
            built.append(build_tool(value))
        except ToolDefinitionError as error:
            notes.append(f"{path.parent.name}/{path.name}: function '{name}' is not a tool: "
                         f"{error}")
    if built:
        notes.insert(0, problems.undecorated_note(path, [t.name for t in built]))
    return built, notes


def _import_file(path: Path) -> ModuleType:
    digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:12]
    stem = re.sub(r"\W", "_", path.stem)
    module_name = f"moco_profile_tools_{digest}_{stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import profile tools from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # user code at a boundary: any failure is a config problem
        sys.modules.pop(module_name, None)
        detail = " ".join(str(error).split()) or type(error).__name__
        raise ConfigError(
            f"cannot load profile tools from {path}: {type(error).__name__}: {detail}"
        ) from error
    return module
