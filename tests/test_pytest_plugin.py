"""moco's pytest fixtures are opt-in, and loading them is cheap."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PLUGIN = "moco.testing.pytest_plugin"


def test_no_pytest11_entry_point_loads_moco_into_other_projects() -> None:
    plugins = [e for e in importlib.metadata.entry_points(group="pytest11")
               if e.value.startswith("moco")]
    assert plugins == []


def test_the_plugin_imports_no_provider_sdk_or_registry() -> None:
    probe = (f"import sys, json; import {PLUGIN}; "
             "print(json.dumps(sorted(m for m in sys.modules)))")
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", probe], check=True,
                                           capture_output=True, text=True).stdout))
    heavy = {"openai", "anthropic", "google.genai", "moco.providers", "moco.core"}
    assert not loaded & heavy


@pytest.mark.slow
def test_fixtures_need_an_opt_in(pytester: pytest.Pytester) -> None:
    """A project where moco is installed gets its fixtures only when it asks for them."""
    pytester.makepyfile(test_uses_it="def test_it(moco_home):\n    assert moco_home.is_dir()\n")
    without = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    without.assert_outcomes(errors=1)
    assert "fixture 'moco_home' not found" in without.stdout.str()
    flag = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", PLUGIN)
    flag.assert_outcomes(passed=1)
    pytester.makeconftest(f"pytest_plugins = [{PLUGIN!r}]\n")
    conftest = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    conftest.assert_outcomes(passed=1)


def test_this_suite_opts_in() -> None:
    text = (Path(__file__).parent / "conftest.py").read_text()
    assert f'pytest_plugins = ["{PLUGIN}"]' in text
