"""The README's examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def test_testing_example_runs(tmp_path: Path) -> None:
    example = next(block for block in BLOCKS if "def test_my_profile" in block)
    namespace: dict[str, object] = {}
    exec(compile(example, "README.md", "exec"), namespace)
    namespace["test_my_profile"](tmp_path)  # type: ignore[operator]


def test_tool_example_builds_a_schema() -> None:
    example = next(block for block in BLOCKS if "def word_count" in block)
    namespace: dict[str, object] = {}
    exec(compile(example, "README.md", "exec"), namespace)
    from moco.tools.base import get_tool

    built = get_tool(namespace["word_count"])
    assert built is not None
    assert built.parameters["properties"]["text"]["description"] == "The text to count."


def test_install_and_test_commands_match_ci() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -e ".[dev]"' in README and '-m pip install -q -e ".[dev]"' in ci
    assert "pytest -q" in README and "-m pytest -q" in ci
