"""``moco mcp list | tools | call`` through typer's CliRunner, against the reference servers."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from moco.cli.mcp import mcp_app
from tests.mcp import children_running, everything_path, require_time_server

runner = CliRunner()


def write_config(folder: Path, servers: dict[str, Any]) -> Path:
    path = folder / ".mcp.json"
    path.write_text(json.dumps({"mcpServers": servers}))
    return path


def invoke(*args: str) -> Any:
    return runner.invoke(mcp_app, list(args))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
def with_everything(project: Path) -> Path:
    write_config(project, {"every": {"command": "node", "args": [str(everything_path()), "stdio"]}})
    return project


def test_list_without_servers_says_where_to_define_them(project: Path) -> None:
    result = invoke("list", "-w", str(project))
    assert result.exit_code == 0 and "no MCP servers configured" in result.output


def test_list_shows_transport_target_and_source(project: Path) -> None:
    path = write_config(project, {
        "time": {"command": "python", "args": ["-m", "mcp_server_time"]},
        "docs": {"url": "http://127.0.0.1:9/sse"},
        "off": {"command": "x", "disabled": True},
    })
    result = invoke("list", "--working-dir", str(project))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["name", "transport", "command", "/", "url", "defined", "in"]
    time_line = next(line for line in lines if line.startswith("time"))
    assert "stdio" in time_line and "python -m mcp_server_time" in time_line
    assert str(path) in time_line
    assert "sse" in next(line for line in lines if line.startswith("docs"))
    assert any(line.startswith("off (disabled)") for line in lines)


def test_list_reports_a_malformed_file_in_one_line(project: Path) -> None:
    (project / ".mcp.json").write_text('{"mcpServers": {,}}')
    result = invoke("list", "-w", str(project))
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert ".mcp.json: invalid JSON on line 1" in result.stderr


def test_call_refuses_bad_json_before_starting_anything(with_everything: Path) -> None:
    result = invoke("call", "every", "echo", "{message: hi}", "-w", str(with_everything))
    assert result.exit_code == 1 and "not valid JSON" in result.stderr
    assert invoke("call", "every", "echo", "[1]", "-w", str(with_everything)).exit_code == 1
    assert not children_running("index.js stdio")


def test_an_unknown_server_is_one_line(project: Path) -> None:
    result = invoke("tools", "nope", "-w", str(project))
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: unknown MCP server 'nope' (configured: none)"


@pytest.mark.slow
def test_tools_lists_names_arguments_and_descriptions(with_everything: Path) -> None:
    result = invoke("tools", "every", "-w", str(with_everything))
    assert result.exit_code == 0, result.output
    assert "echo(message*)  [mcp__every__echo]" in result.output
    assert "get-sum(a*, b*)" in result.output
    assert "    Echoes back the input string" in result.output


@pytest.mark.slow
def test_call_prints_the_result_text(with_everything: Path) -> None:
    result = invoke("call", "every", "echo", '{"message": "hi from the cli"}',
                    "-w", str(with_everything))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Echo: hi from the cli"
    assert not children_running("index.js stdio")


@pytest.mark.slow
def test_call_error_results_and_unknown_tools_exit_1(with_everything: Path) -> None:
    failed = invoke("call", "every", "echo", "{}", "-w", str(with_everything))
    assert failed.exit_code == 1
    assert failed.stderr.startswith("error: ") and failed.stderr.strip().count("\n") == 0
    unknown = invoke("call", "every", "ehco", "{}", "-w", str(with_everything))
    assert unknown.exit_code == 1
    assert "unknown tool 'ehco' on MCP server 'every'; available: echo," in unknown.stderr


@pytest.mark.slow
def test_call_the_time_server(project: Path) -> None:
    require_time_server()
    write_config(project, {"time": {"command": sys.executable, "args": ["-m", "mcp_server_time"]}})
    result = invoke("call", "time", "get_current_time", '{"timezone": "UTC"}', "-w", str(project))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["timezone"] == "UTC"
