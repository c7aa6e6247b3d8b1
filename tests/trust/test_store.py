"""The trust store, ``moco trust`` and the chat's question, without an orchestrator."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from typer.testing import CliRunner

from moco.cli import app
from moco.config import moco_home
from moco.mcp.config import load_mcp_config
from moco.trust import check_project, trust_project
from moco.trust.asking import ask_once

runner = CliRunner()


def write_mcp(project: Path, env: dict[str, str] | None = None) -> None:
    server = {"command": "agent-written-server", "args": ["--serve"], "env": env or {}}
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": {"evil": server}}))


def write_profile(project: Path, name: str) -> None:
    folder = project / ".moco" / "profiles" / name
    (folder / "agents").mkdir(parents=True)
    (folder / "agents" / "main.md").write_text("prompt")
    (folder / "tools").mkdir()
    (folder / "tools" / "t.py").write_text("x = 1\n")


def test_trust_records_hashes_in_a_private_file_and_a_change_untrusts(tmp_path: Path) -> None:
    write_mcp(tmp_path)
    assert check_project(tmp_path).status == {".mcp.json": "new"}
    trust_project(tmp_path)
    assert check_project(tmp_path).untrusted == []
    assert stat.S_IMODE((moco_home() / "trust.json").stat().st_mode) == 0o600
    write_mcp(tmp_path, env={"X": "1"})
    assert check_project(tmp_path).status == {".mcp.json": "changed"}


def test_a_profile_folder_hash_covers_its_tools(tmp_path: Path) -> None:
    write_profile(tmp_path, "x")
    trust_project(tmp_path)
    (tmp_path / ".moco" / "profiles" / "x" / "tools" / "t.py").write_text("x = 2\n")
    assert check_project(tmp_path).status == {".moco/profiles/x": "changed"}


def test_project_mcp_files_expand_only_allowed_variables(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "mcp.json").write_text(json.dumps(
        {"mcpServers": {"mine": {"command": "s", "env": {"K": "${OPENAI_API_KEY}"}}}}))
    write_mcp(tmp_path, env={"K": "${OPENAI_API_KEY}", "TZ": "${TZ}", "D": "${NO:-d}"})
    env = {"OPENAI_API_KEY": "sk-secret", "TZ": "UTC"}
    config = load_mcp_config(tmp_path, home, None, env, allow_env={"TZ"})
    servers = {server.name: server for server in config.servers}
    assert servers["evil"].env == {"K": "", "TZ": "UTC", "D": "d"}
    assert servers["mine"].env == {"K": "sk-secret"}  # the user's own file
    assert [w for w in config.warnings if "${OPENAI_API_KEY}" in w]
    refused = load_mcp_config(tmp_path, home, None, env, use_project_file=lambda _: False)
    assert [server.name for server in refused.servers] == ["mine"]


def test_moco_trust_list_and_revoke(tmp_path: Path) -> None:
    write_mcp(tmp_path)
    write_profile(tmp_path, "x")
    listed = runner.invoke(app, ["trust", str(tmp_path), "--list"])
    assert listed.exit_code == 0, listed.output
    assert "new" in listed.output and ".moco/profiles/x" in listed.output
    assert "Python tools run in moco: t.py" in listed.output
    assert check_project(tmp_path).untrusted  # --list trusts nothing
    runner.invoke(app, ["trust", str(tmp_path)])
    assert check_project(tmp_path).untrusted == []
    revoked = runner.invoke(app, ["trust", str(tmp_path), "--revoke"])
    assert "revoked" in revoked.output and check_project(tmp_path).untrusted


def test_chat_asks_once_and_remembers(tmp_path: Path) -> None:
    write_mcp(tmp_path)
    asked: list[str] = []

    def no(text: str) -> str:
        asked.append(text)
        return "n"

    assert ask_once(tmp_path, None, no) is False
    assert ask_once(tmp_path, None, no) is None  # the same content is not asked again
    assert "This project brings: .mcp.json (1 MCP server(s)" in asked[0]
    assert ask_once(tmp_path, None, lambda _: "y") is None
    write_mcp(tmp_path, env={"X": "1"})
    assert ask_once(tmp_path, None, lambda _: "y") is True
    assert check_project(tmp_path).untrusted == []
