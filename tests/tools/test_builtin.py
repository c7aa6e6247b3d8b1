"""The base tool set: names, aliases, flags and schemas a model can rely on."""

from __future__ import annotations

import json
from typing import Any

from moco.tools.base import Tool
from moco.tools.builtin import BASE_TOOLS, base_registry

ALIASES = {
    "read": "read_file",
    "write": "write_file",
    "edit": "edit_file",
    "bash": "execute_bash",
    "ls": "list_dir",
    "list": "list_dir",
    "glob": "glob_search",
    "webfetch": "web_fetch",
    "websearch": "web_search",
}
MUTATING = {"write_file", "edit_file", "execute_bash", "git_commit", "create_pr"}


def _properties(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every property of a schema, nested ones included."""
    found = []
    for name, prop in schema.get("properties", {}).items():
        found.append((name, prop))
        found.extend(_properties(prop))
        found.extend(_properties(prop.get("items", {})))
    return found


def test_registry_holds_every_base_tool_and_resolves_aliases() -> None:
    registry = base_registry()
    assert registry.names == [tool.name for tool in BASE_TOOLS]
    assert set(registry.names) == {
        "read_file", "write_file", "edit_file", "list_dir", "tree", "file_info",
        "glob_search", "grep", "ripgrep", "find_definition", "find_references",
        "codebase_search", "execute_bash", "todowrite", "todoread", "web_fetch", "web_search",
        "git_status", "git_diff", "git_commit", "create_pr",
    }  # fmt: skip
    for alias, name in ALIASES.items():
        assert registry.canonical(alias) == name
        assert alias in registry


def test_only_tools_that_change_things_are_marked_mutating() -> None:
    assert {tool.name for tool in BASE_TOOLS if tool.mutates} == MUTATING


def test_schemas_describe_every_parameter_and_stay_small() -> None:
    for tool in BASE_TOOLS:
        assert isinstance(tool, Tool)
        schema = tool.schema()
        assert schema["description"] and len(schema["description"]) < 120, tool.name
        assert "ctx" not in schema["parameters"]["properties"]
        for name, prop in _properties(schema["parameters"]):
            assert prop.get("description"), f"{tool.name}.{name} has no description"
        text = json.dumps(schema)
        assert "$ref" not in text and "$defs" not in text, tool.name
        assert len(text) < 1400, f"{tool.name} schema is {len(text)} characters"
