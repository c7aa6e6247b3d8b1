"""`moco commit` end to end: a real subprocess, a real repository, a scripted model server;
the person answers on stdin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from moco.testing import Reply, ScriptedOpenAIServer

pytestmark = pytest.mark.slow

PROPOSED = "feat(lib): add the answer constant"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout


def moco(*args: str, env: dict[str, str], cwd: Path,
         stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "moco", *args], env=env, cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    git(folder, "config", "user.name", "Test")
    git(folder, "config", "user.email", "test@example.com")
    (folder / "app.py").write_text("print('hello')\n")
    git(folder, "add", "app.py")
    git(folder, "commit", "-q", "-m", "initial")
    return folder


@pytest.fixture
def env(scripted_openai: ScriptedOpenAIServer) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.endswith(("_API_KEY", "_BASE_URL")) and k not in ("VISUAL", "EDITOR")}
    clean.pop("MOCO_DEFAULT_PROVIDER", None)
    clean.update(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=scripted_openai.base_url)
    return clean


@pytest.fixture
def staged(repo: Path, scripted_openai: ScriptedOpenAIServer) -> Path:
    (repo / "lib.py").write_text("ANSWER = 42\n")
    git(repo, "add", "lib.py")
    scripted_openai.add(Reply.say(PROPOSED))
    return repo


def subjects(repo: Path) -> list[str]:
    return git(repo, "log", "--format=%s").splitlines()


def test_accept_commits_the_proposed_message(
    staged: Path, env: dict[str, str], scripted_openai: ScriptedOpenAIServer
) -> None:
    result = moco("commit", env=env, cwd=staged, stdin="a\n")
    assert result.returncode == 0, result.stderr
    assert "lib.py | 1 +" in result.stdout and f"    {PROPOSED}" in result.stdout
    assert subjects(staged) == [PROPOSED, "initial"]
    assert "+ANSWER = 42" in scripted_openai.requests[0].body["messages"][-1]["content"]


def test_edit_inline_without_an_editor(staged: Path, env: dict[str, str]) -> None:
    result = moco("commit", env=env, cwd=staged,
                  stdin="e\nfix: my own words\n\nWhy it changed.\n.\na\n")
    assert result.returncode == 0, result.stderr
    assert git(staged, "log", "-1", "--format=%B").strip() == "fix: my own words\n\nWhy it changed."


def test_edit_in_the_editor(staged: Path, env: dict[str, str], tmp_path: Path) -> None:
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\ngrep -q "^# Lines" "$1" && printf "docs: edited\\n" > "$1"\n')
    editor.chmod(0o755)
    env["EDITOR"] = str(editor)
    result = moco("commit", env=env, cwd=staged, stdin="e\na\n")
    assert result.returncode == 0, result.stderr
    assert "    docs: edited" in result.stdout
    assert subjects(staged)[0] == "docs: edited"


def test_cancel_commits_nothing_and_unstages_what_all_staged(
    repo: Path, env: dict[str, str], scripted_openai: ScriptedOpenAIServer
) -> None:
    (repo / "app.py").write_text("print('changed')\n")
    scripted_openai.add(Reply.say(PROPOSED))
    result = moco("commit", "--all", env=env, cwd=repo, stdin="c\n")
    assert result.returncode == 1
    assert "cancelled — nothing was committed" in result.stderr
    assert subjects(repo) == ["initial"]
    assert git(repo, "status", "--short") == " M app.py\n"


def test_yes_commits_without_asking(staged: Path, env: dict[str, str]) -> None:
    result = moco("commit", "--yes", env=env, cwd=staged)
    assert result.returncode == 0, result.stderr
    assert "[a]ccept" not in result.stdout
    assert subjects(staged)[0] == PROPOSED


def test_nothing_staged_is_one_line(repo: Path, env: dict[str, str]) -> None:
    result = moco("commit", env=env, cwd=repo)
    assert result.returncode == 1
    assert result.stderr == "nothing is staged — stage changes with git add, or use --all\n"


def test_a_staged_secret_is_refused(
    repo: Path, env: dict[str, str], scripted_openai: ScriptedOpenAIServer
) -> None:
    (repo / "config.py").write_text('TOKEN = "ghp_' + "x1Y2z3" * 6 + '"\n')
    git(repo, "add", "config.py")
    result = moco("commit", "--yes", env=env, cwd=repo)
    assert result.returncode == 1
    assert result.stderr.startswith("error: refused to commit: config.py (")
    assert subjects(repo) == ["initial"] and scripted_openai.requests == []


def test_a_missing_key_is_one_line(staged: Path, env: dict[str, str]) -> None:
    env.pop("OPENAI_API_KEY")
    env.pop("OPENAI_BASE_URL")
    result = moco("commit", "-P", "openai", env=env, cwd=staged)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: OPENAI_API_KEY is not set — export it or put it in .env, "
        "or choose another provider with -P"]
