"""Trust and permissions reach the side doors: `moco mcp` commands and background commands."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from moco.cli import app
from moco.core.permission_rules import scope_kind

runner = CliRunner()


def test_moco_mcp_list_does_not_use_an_untrusted_project_file(tmp_path: Path) -> None:
    server = {"command": "agent-written-server", "args": ["--serve"]}
    (tmp_path / ".mcp.json").write_text(json.dumps({"mcpServers": {"evil": server}}))
    result = runner.invoke(app, ["mcp", "list", "-w", str(tmp_path)])
    assert "evil" not in result.stdout
    assert ".mcp.json is not trusted" in result.output and "moco trust" in result.output
    assert runner.invoke(app, ["trust", str(tmp_path)]).exit_code == 0
    trusted = runner.invoke(app, ["mcp", "list", "-w", str(tmp_path)])
    assert "evil" in trusted.stdout


def test_permission_rules_match_background_commands_like_shell_commands() -> None:
    assert scope_kind("start_background") == scope_kind("execute_bash") == "command"
