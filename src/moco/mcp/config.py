"""MCP server definitions, and where they are read from.

Servers are defined in three places, merged by name (a later definition replaces an earlier one
as a whole):

1. ``$MOCO_HOME/mcp.json`` then ``$MOCO_HOME/.mcp.json`` (the user's servers);
2. ``mcp_servers:`` in the profile's ``profile.yaml`` — a mapping ``name -> settings`` or a list
   of settings with a ``name`` key;
3. ``<working dir>/mcp.json`` then ``<working dir>/.mcp.json`` (the project's servers).

The JSON files use the Claude Desktop / Claude Code format (VS Code's ``servers`` key is read
too)::

    {"mcpServers": {
        "time": {"command": "python", "args": ["-m", "mcp_server_time"], "env": {"TZ": "UTC"}},
        "docs": {"type": "http", "url": "https://example.com/mcp",
                 "headers": {"Authorization": "Bearer ${DOCS_TOKEN}"}}}}

Settings of one server: ``command``, ``args``, ``env``, ``cwd`` (stdio); ``url``, ``headers``
(HTTP); ``type`` or ``transport`` (``stdio``, ``http``/``streamable-http``, ``sse``; inferred
when absent: a command means stdio, a URL ending in ``/sse`` means SSE, any other URL streamable
HTTP); ``timeout`` and ``startup_timeout`` in seconds; ``enabled: false`` or ``disabled: true``.
An entry that only says it is disabled turns off a server defined earlier. Other keys are
ignored, so files written for other clients load.

``${VAR}`` and ``${VAR:-default}`` in ``command``, ``args``, ``env``, ``cwd``, ``url`` and
``headers`` are replaced from the environment given to :func:`load_mcp_config`; a variable that
is not set and has no default is a :class:`~moco.errors.ConfigError` naming the server and the
variable. A relative ``cwd`` is relative to the folder of the file that defines it; without one,
stdio servers start in the working directory.

A project's files (``<working dir>/mcp.json``, ``.mcp.json``) may be written by anyone who can
write to the project — an agent included. When ``allow_env`` is given (the orchestrator gives
the variables of ``MOCO_MCP_ALLOW_ENV=VAR1,VAR2``, see :mod:`moco.trust`), ``${VAR}`` in them
expands only for those variables; any other is left empty (or takes its ``:-default``) with a
warning in :attr:`MCPConfig.warnings` naming the variable — so ``${OPENAI_API_KEY}`` never
reaches a server the user did not allow it for. ``use_project_file`` may refuse a project file
(an untrusted one): its servers are not read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from moco.errors import ConfigError

TransportName = Literal["stdio", "http", "sse"]

CONFIG_FILE_NAMES = ("mcp.json", ".mcp.json")

_TRANSPORTS: dict[str, TransportName] = {
    "stdio": "stdio",
    "http": "http",
    "streamable-http": "http",
    "streamable_http": "http",
    "streamablehttp": "http",
    "sse": "sse",
}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class MCPServerConfig:
    """One MCP server: a command to run (stdio) or a URL to connect to (HTTP, SSE).

    ``repr`` hides the values of ``env`` and ``headers``: they often hold API keys.
    """

    name: str
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None
    url: str | None = None
    headers: dict[str, str] | None = None
    #: ``stdio`` | ``http`` (streamable HTTP) | ``sse``; inferred when ``None``
    transport: TransportName | None = None
    #: seconds a call may take before it fails
    timeout: float = 30.0
    enabled: bool = True
    cwd: str | Path | None = None
    #: seconds the server may take to start and answer the handshake
    startup_timeout: float = 60.0
    #: where the server was defined (a file, or ``profile.yaml``), for listings and errors
    source: str = ""

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ConfigError("an MCP server needs a name")
        self.args = [str(arg) for arg in self.args]
        self.transport = self._resolve_transport()
        if self.transport == "stdio" and not self.command:
            raise ConfigError(f"MCP server '{self.name}'{self._where()}: stdio needs a 'command'")
        if self.transport != "stdio" and not self.url:
            raise ConfigError(f"MCP server '{self.name}'{self._where()}: "
                              f"{self.transport} needs a 'url'")
        if self.timeout <= 0 or self.startup_timeout <= 0:
            raise ConfigError(f"MCP server '{self.name}'{self._where()}: timeouts must be "
                              "positive numbers of seconds")

    @property
    def kind(self) -> TransportName:
        """The transport, never ``None`` (it is inferred at construction)."""
        return self.transport or "stdio"

    @property
    def target(self) -> str:
        """The command line or the URL, for listings."""
        if self.kind == "stdio":
            return " ".join([self.command or "", *self.args])
        return self.url or ""

    def __repr__(self) -> str:
        env = {key: "***" for key in self.env} if self.env else self.env
        headers = {key: "***" for key in self.headers} if self.headers else self.headers
        return (f"MCPServerConfig(name={self.name!r}, transport={self.transport!r}, "
                f"command={self.command!r}, args={self.args!r}, url={self.url!r}, env={env!r}, "
                f"headers={headers!r}, timeout={self.timeout!r}, enabled={self.enabled!r})")

    def _resolve_transport(self) -> TransportName:
        if self.transport is not None:
            found = _TRANSPORTS.get(str(self.transport).strip().lower())
            if found is None:
                raise ConfigError(
                    f"MCP server '{self.name}'{self._where()}: unknown transport "
                    f"'{self.transport}' (use stdio, http or sse)")
            return found
        if self.command and self.url:
            raise ConfigError(f"MCP server '{self.name}'{self._where()}: give either a "
                              "'command' or a 'url', not both (or set 'type')")
        if self.url:
            path = self.url.split("?", 1)[0].rstrip("/")
            return "sse" if path.endswith("/sse") else "http"
        return "stdio"

    def _where(self) -> str:
        return f" ({self.source})" if self.source else ""


@dataclass
class MCPConfig:
    """The MCP servers a client may use. ``enabled=False`` turns them all off."""

    enabled: bool = True
    servers: list[MCPServerConfig] = field(default_factory=list)
    #: what loading left out, one line each (variables a project file may not use)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for server in self.servers:
            if server.name in seen:
                raise ConfigError(f"two MCP servers are named '{server.name}'")
            seen.add(server.name)

    @property
    def active(self) -> list[MCPServerConfig]:
        """The servers that may be started."""
        if not self.enabled:
            return []
        return [server for server in self.servers if server.enabled]

    def get(self, name: str) -> MCPServerConfig | None:
        return next((server for server in self.servers if server.name == name), None)


def load_mcp_config(
    working_dir: Path,
    home: Path,
    profile_settings: Mapping[str, Any] | None,
    env: Mapping[str, str],
    *,
    allow_env: Collection[str] | None = None,
    use_project_file: Callable[[Path], bool] | None = None,
) -> MCPConfig:
    """Merge the MCP servers of ``home``, the profile's settings and ``working_dir`` (in that
    order, later definitions win) as described in the module docstring.

    Raises :class:`ConfigError` for malformed files (naming the file and line), malformed
    entries and missing environment variables.
    """
    working_dir = Path(working_dir).expanduser().resolve()
    home = Path(home).expanduser()
    found: dict[str, MCPServerConfig] = {}
    warnings: list[str] = []
    for path in _config_files(home):
        _merge(found, _entries_from_file(path), env, working_dir)
    if profile_settings and profile_settings.get("mcp_servers") is not None:
        entries = _entries_from_profile(profile_settings["mcp_servers"], working_dir)
        _merge(found, entries, env, working_dir)
    if working_dir != home.resolve():
        for path in _config_files(working_dir):
            if use_project_file is None or use_project_file(path):
                project_env = _Restricted(env, allow_env, warnings)
                _merge(found, _entries_from_file(path), project_env, working_dir)
    return MCPConfig(enabled=True, servers=list(found.values()), warnings=warnings)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Entry:
    name: str
    settings: Mapping[str, Any]
    source: str
    base_dir: Path


def _config_files(directory: Path) -> list[Path]:
    return [directory / name for name in CONFIG_FILE_NAMES if (directory / name).is_file()]


def _entries_from_file(path: Path) -> list[_Entry]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: invalid JSON on line {error.lineno}, column {error.colno}: "
                          f"{error.msg}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read it: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object with an \"mcpServers\" object")
    servers = data.get("mcpServers", data.get("servers"))
    if servers is None:
        return []
    if not isinstance(servers, dict):
        raise ConfigError(f"{path}: \"mcpServers\" must be an object of server names to settings")
    return [_Entry(str(name), settings, str(path), path.parent)
            for name, settings in servers.items()]


def _entries_from_profile(value: Any, working_dir: Path) -> list[_Entry]:
    source = "profile.yaml"
    if isinstance(value, Mapping):
        return [_Entry(str(name), settings, source, working_dir)
                for name, settings in value.items()]
    if isinstance(value, list):
        entries = []
        for item in value:
            if not isinstance(item, Mapping) or not item.get("name"):
                raise ConfigError(f"{source}: each entry of the 'mcp_servers' list needs a 'name'")
            entries.append(_Entry(str(item["name"]), item, source, working_dir))
        return entries
    raise ConfigError(f"{source}: 'mcp_servers' must be a mapping of server names to settings, "
                      "or a list of servers with a 'name'")


def _merge(found: dict[str, MCPServerConfig], entries: Iterable[_Entry],
           env: Mapping[str, str], working_dir: Path) -> None:
    for entry in entries:
        if not isinstance(entry.settings, Mapping):
            raise ConfigError(f"{entry.source}: MCP server '{entry.name}' must be a mapping of "
                              "settings (command, args, env, url, headers ...)")
        if _only_disables(entry.settings):
            if entry.name in found:
                found[entry.name] = replace(found[entry.name], enabled=False, source=entry.source)
            continue
        found[entry.name] = _server_from_entry(entry, env, working_dir)


def _only_disables(settings: Mapping[str, Any]) -> bool:
    disabled = settings.get("disabled") is True or settings.get("enabled") is False
    return disabled and not settings.get("command") and not settings.get("url")


def _server_from_entry(entry: _Entry, env: Mapping[str, str], working_dir: Path) -> MCPServerConfig:
    settings = entry.settings
    where = f"MCP server '{entry.name}' ({entry.source})"
    expand = _Expander(env, where)
    command = _text(settings, "command", where)
    cwd = _text(settings, "cwd", where)
    transport = _text(settings, "type", where) or _text(settings, "transport", where)
    enabled = settings.get("enabled", True) is not False and settings.get("disabled") is not True
    resolved_cwd: Path | None = None
    if cwd is not None:
        resolved_cwd = entry.base_dir / Path(expand(cwd)).expanduser()
    elif command is not None:
        resolved_cwd = working_dir
    return MCPServerConfig(
        name=entry.name,
        command=expand(command) if command is not None else None,
        args=[expand(arg) for arg in _text_list(settings, "args", where)],
        env=_expand_mapping(_text_mapping(settings, "env", where), expand),
        url=expand(url) if (url := _text(settings, "url", where)) is not None else None,
        headers=_expand_mapping(_text_mapping(settings, "headers", where), expand),
        transport=transport,  # type: ignore[arg-type]  # validated by MCPServerConfig
        timeout=_seconds(settings, "timeout", 30.0, where),
        startup_timeout=_seconds(settings, "startup_timeout", 60.0, where),
        enabled=enabled,
        cwd=resolved_cwd,
        source=entry.source,
    )


# --------------------------------------------------------------------------- values


class _Restricted(Mapping[str, str]):
    """``env`` as a project file may see it: only ``allowed`` names (all when None); asking
    for another answers an empty value and notes a warning naming the variable."""

    def __init__(self, env: Mapping[str, str], allowed: Collection[str] | None,
                 warnings: list[str]) -> None:
        self.env, self.allowed, self.warnings = env, allowed, warnings

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if self.allowed is None or key in self.allowed:
            return self.env.get(key, default)
        note = (f"${{{key}}} in a project MCP file is not expanded (left empty, or its default): "
                "project files may only use the variables listed in MOCO_MCP_ALLOW_ENV")
        if note not in self.warnings:
            self.warnings.append(note)
        return ""

    def __getitem__(self, key: str) -> str:
        value: str = self.get(key, "")
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self.env)

    def __len__(self) -> int:
        return len(self.env)


class _Expander:
    """Replaces ``${VAR}`` and ``${VAR:-default}`` from an environment."""

    def __init__(self, env: Mapping[str, str], where: str) -> None:
        self.env = env
        self.where = where

    def __call__(self, text: str) -> str:
        return _VARIABLE.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = self.env.get(name)
        if value:
            return value
        if default is not None:
            return default
        if value is not None:
            return value
        raise ConfigError(f"{self.where}: environment variable {name} is not set (export it, "
                          f"put it in .env, or write ${{{name}:-default}})")


def _expand_mapping(values: dict[str, str] | None, expand: _Expander) -> dict[str, str] | None:
    if values is None:
        return None
    return {key: expand(value) for key, value in values.items()}


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    return None


def _text(settings: Mapping[str, Any], key: str, where: str) -> str | None:
    value = settings.get(key)
    if value is None:
        return None
    text = _scalar_text(value)
    if text is None:
        raise ConfigError(f"{where}: '{key}' must be text")
    return text


def _text_list(settings: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = settings.get(key)
    if value is None:
        return []
    items = [_scalar_text(item) for item in value] if isinstance(value, list) else [None]
    if any(item is None for item in items):
        raise ConfigError(f"{where}: '{key}' must be a list of strings")
    return [item for item in items if item is not None]


def _text_mapping(settings: Mapping[str, Any], key: str, where: str) -> dict[str, str] | None:
    value = settings.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: '{key}' must be a mapping of names to strings")
    result: dict[str, str] = {}
    for name, item in value.items():
        text = _scalar_text(item)
        if text is None:
            raise ConfigError(f"{where}: '{key}.{name}' must be a string")
        result[str(name)] = text
    return result


def _seconds(settings: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where}: '{key}' must be a positive number of seconds")
    return float(value)
