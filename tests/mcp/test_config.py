"""MCP configuration: server definitions, the files and profile settings they come from,
variable expansion and the errors a user sees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from moco.core.mcp_client import MCPConfig, MCPServerConfig, load_mcp_config
from moco.errors import ConfigError
from moco.profiles import load_profile


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "moco-home"
    folder.mkdir()
    return folder


def write_json(path: Path, servers: dict[str, Any], key: str = "mcpServers") -> Path:
    path.write_text(json.dumps({key: servers}, indent=2))
    return path


def by_name(config: MCPConfig) -> dict[str, MCPServerConfig]:
    return {server.name: server for server in config.servers}


# --------------------------------------------------------------------------- MCPServerConfig


def test_the_seed_api_works_as_written() -> None:
    config = MCPConfig(enabled=True, servers=[
        MCPServerConfig(name="fs", command="npx", args=["-y", "server"], env={"K": "v"},
                        url=None, headers=None),
    ])
    assert config.active[0].kind == "stdio" and config.get("fs") is config.servers[0]


@pytest.mark.parametrize(("settings", "expected"), [
    ({"command": "node"}, "stdio"),
    ({"url": "http://127.0.0.1:3001/mcp"}, "http"),
    ({"url": "http://127.0.0.1:3001/sse"}, "sse"),
    ({"url": "http://127.0.0.1:3001/sse/?k=1"}, "sse"),
    ({"url": "http://h/x", "transport": "streamable-http"}, "http"),
    ({"url": "http://h/x", "transport": "SSE"}, "sse"),
    ({"command": "node", "url": "http://h/x", "transport": "stdio"}, "stdio"),
])
def test_the_transport_is_inferred_or_normalised(settings: dict[str, Any], expected: str) -> None:
    assert MCPServerConfig(name="s", **settings).kind == expected


@pytest.mark.parametrize(("settings", "message"), [
    ({}, "stdio needs a 'command'"),
    ({"command": "node", "url": "http://h/mcp"}, "either a 'command' or a 'url'"),
    ({"url": "http://h", "transport": "websocket"}, "unknown transport 'websocket'"),
    ({"transport": "http"}, "http needs a 'url'"),
    ({"command": "node", "timeout": 0}, "positive"),
])
def test_invalid_servers_are_config_errors(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MCPServerConfig(name="s", **settings)


def test_repr_hides_env_and_header_values() -> None:
    server = MCPServerConfig(name="s", url="http://h/mcp", headers={"Authorization": "Bearer sk-1"},
                             env={"TOKEN": "sk-2"})
    text = repr(server)
    assert "Authorization" in text and "sk-1" not in text and "sk-2" not in text


def test_duplicate_names_are_refused_and_disabled_servers_inactive() -> None:
    with pytest.raises(ConfigError, match="two MCP servers are named 'a'"):
        MCPConfig(servers=[MCPServerConfig(name="a", command="x"),
                           MCPServerConfig(name="a", command="y")])
    config = MCPConfig(servers=[MCPServerConfig(name="a", command="x", enabled=False),
                                MCPServerConfig(name="b", command="y")])
    assert [s.name for s in config.active] == ["b"]
    assert MCPConfig(enabled=False, servers=config.servers).active == []


# --------------------------------------------------------------------------- loading


def test_nothing_configured_means_no_servers(project: Path, home: Path) -> None:
    assert load_mcp_config(project, home, None, {}).servers == []


def test_claude_desktop_files_in_home_and_project(project: Path, home: Path) -> None:
    write_json(home / "mcp.json",
               {"time": {"command": "python", "args": ["-m", "mcp_server_time"]}})
    write_json(project / ".mcp.json", {
        "docs": {"type": "http", "url": "https://example.com/mcp",
                 "headers": {"Authorization": "Bearer abc"}},
    })
    servers = by_name(load_mcp_config(project, home, None, {}))
    assert servers["time"].args == ["-m", "mcp_server_time"] and servers["time"].kind == "stdio"
    assert servers["time"].source == str(home / "mcp.json")
    assert servers["time"].cwd == project.resolve()
    assert servers["docs"].headers == {"Authorization": "Bearer abc"}
    assert servers["docs"].source == str(project / ".mcp.json") and servers["docs"].cwd is None


def test_vscode_servers_key_is_read(project: Path, home: Path) -> None:
    write_json(project / "mcp.json", {"web": {"type": "sse", "url": "http://h/events"}},
               key="servers")
    assert by_name(load_mcp_config(project, home, None, {}))["web"].kind == "sse"


def test_project_beats_profile_beats_home(project: Path, home: Path) -> None:
    write_json(home / ".mcp.json", {"a": {"command": "home-a"}, "b": {"command": "home-b"},
                                    "c": {"command": "home-c"}})
    settings = {"mcp_servers": {"b": {"command": "profile-b"}, "c": {"command": "profile-c"}}}
    write_json(project / ".mcp.json", {"c": {"command": "project-c"}})
    servers = by_name(load_mcp_config(project, home, settings, {}))
    assert [servers[n].command for n in "abc"] == ["home-a", "profile-b", "project-c"]
    assert servers["b"].source == "profile.yaml"


def test_profile_list_form_and_a_disabling_entry(project: Path, home: Path) -> None:
    write_json(home / "mcp.json", {"noisy": {"command": "noisy-server"}})
    settings = {"mcp_servers": [
        {"name": "time", "command": "python", "args": ["-m", "mcp_server_time"], "timeout": 5},
        {"name": "noisy", "disabled": True},
    ]}
    config = load_mcp_config(project, home, settings, {})
    servers = by_name(config)
    assert servers["time"].timeout == 5.0
    assert not servers["noisy"].enabled and servers["noisy"].command == "noisy-server"
    assert [s.name for s in config.active] == ["time"]


def test_variables_are_expanded_with_defaults(project: Path, home: Path) -> None:
    write_json(project / ".mcp.json", {
        "local": {"command": "${TOOLS}/bin/server", "args": ["--root", "${ROOT:-/srv}", "$KEEP"],
                  "env": {"API_KEY": "${API_KEY}", "EMPTY": "${UNSET:-}"}, "cwd": "${SUB:-sub}"},
        "remote": {"url": "https://${HOST:-example.com}/mcp",
                   "headers": {"Authorization": "Bearer ${API_KEY}"}},
    })
    env = {"TOOLS": "/opt/tools", "API_KEY": "sk-123", "SUB": "work"}
    servers = by_name(load_mcp_config(project, home, None, env))
    local, remote = servers["local"], servers["remote"]
    assert local.command == "/opt/tools/bin/server"
    assert local.args == ["--root", "/srv", "$KEEP"]
    assert local.env == {"API_KEY": "sk-123", "EMPTY": ""}
    assert local.cwd == project / "work"
    assert remote.url == "https://example.com/mcp"
    assert remote.headers == {"Authorization": "Bearer sk-123"}


def test_a_missing_variable_names_the_server_and_the_variable(project: Path, home: Path) -> None:
    write_json(project / ".mcp.json", {"github": {"url": "https://h/mcp",
                                                  "headers": {"X-Token": "${GITHUB_TOKEN}"}}})
    with pytest.raises(ConfigError) as error:
        load_mcp_config(project, home, None, {})
    message = str(error.value)
    assert "MCP server 'github'" in message and "GITHUB_TOKEN" in message
    assert "\n" not in message


def test_malformed_json_names_the_file_and_line(project: Path, home: Path) -> None:
    path = project / ".mcp.json"
    path.write_text('{\n  "mcpServers": {\n    "a": {"command": "x",}\n  }\n}\n')
    with pytest.raises(ConfigError, match=r"\.mcp\.json: invalid JSON on line 3"):
        load_mcp_config(project, home, None, {})


@pytest.mark.parametrize(("content", "message"), [
    ('["not", "an", "object"]', "expected a JSON object"),
    ('{"mcpServers": ["a"]}', "must be an object of server names"),
    ('{"mcpServers": {"a": "node server.js"}}', "MCP server 'a' must be a mapping"),
    ('{"mcpServers": {"a": {"command": "x", "args": "--flag"}}}', "'args' must be a list"),
    ('{"mcpServers": {"a": {"command": "x", "env": {"K": {"v": 1}}}}}', "'env.K' must be"),
    ('{"mcpServers": {"a": {"command": "x", "timeout": "soon"}}}', "'timeout' must be"),
])
def test_malformed_entries_are_config_errors(project: Path, home: Path, content: str,
                                             message: str) -> None:
    (home / "mcp.json").write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_mcp_config(project, home, None, {})


def test_malformed_profile_settings_are_config_errors(project: Path, home: Path) -> None:
    with pytest.raises(ConfigError, match="'mcp_servers' must be a mapping"):
        load_mcp_config(project, home, {"mcp_servers": "time"}, {})
    with pytest.raises(ConfigError, match="needs a 'name'"):
        load_mcp_config(project, home, {"mcp_servers": [{"command": "x"}]}, {})


def test_a_real_profile_yaml_feeds_the_loader(project: Path, home: Path) -> None:
    profile = project / "with-mcp"
    (profile / "agents").mkdir(parents=True)
    (profile / "agents" / "main.md").write_text("---\ndescription: main\n---\nYou help.\n")
    (profile / "profile.yaml").write_text(
        "name: with-mcp\n"
        "mcp_servers:\n"
        "  time:\n"
        "    command: python\n"
        "    args: [-m, mcp_server_time, --local-timezone, '${TZ_NAME:-UTC}']\n"
    )
    settings = load_profile(profile, working_dir=project, env={}).settings
    servers = by_name(load_mcp_config(project, home, settings, {"TZ_NAME": "Europe/Paris"}))
    assert servers["time"].args[-1] == "Europe/Paris"
