"""``moco memory ...`` in-process (keyword only, no key at all) and as a subprocess against the
scripted OpenAI server (hybrid, through the real SDK)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import faiss
import pytest
from typer.testing import CliRunner

from moco.cli import app
from moco.testing import ScriptedOpenAIServer

FACT = "Ask Tanaka-san about expense reports."


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOCO_EMBEDDING_MODEL", raising=False)
    return CliRunner()


def invoke(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_add_list_search_show_without_any_key(cli: CliRunner, moco_home: Path,
                                              tmp_path: Path) -> None:
    assert "remembered [1]" in invoke(cli, "memory", "add", FACT)
    added = json.loads(invoke(cli, "memory", "add", "Deploys happen on Tuesdays.", "--kind",
                              "procedure", "-p", "code", "--project", ".", "--json"))
    assert (added["kind"], added["profile"]) == ("procedure", "code")
    assert added["project"] == str(tmp_path.resolve()) and added["source"] == "user"
    listing = invoke(cli, "memory", "list")
    assert listing.index("[2] Deploys") < listing.index("[1] Ask Tanaka-san")
    assert [r["id"] for r in json.loads(invoke(cli, "memory", "list", "-p", "tax", "--json"))
            ] == [1]
    hits = json.loads(invoke(cli, "memory", "search", "Who handles expense reports?", "--json"))
    assert [(h["id"], h["via"]) for h in hits] == [(1, "keyword")]
    assert "no memory matches" in invoke(cli, "memory", "search", "zebra")
    shown = invoke(cli, "memory", "show", "2")
    assert "kind:          procedure" in shown and "profile:       code" in shown
    stats = json.loads(invoke(cli, "memory", "stats", "--json"))
    assert stats["memories"] == 2 and stats["embedder"] is None
    assert "none (keyword search only)" in invoke(cli, "memory", "stats")


def test_forget_one_and_all_really_forgets(cli: CliRunner, moco_home: Path) -> None:
    for text in (FACT, "Lunch is at noon.", "Tax forms are due in March."):
        invoke(cli, "memory", "add", text)
    assert "forgot [1] Ask Tanaka-san" in invoke(cli, "memory", "forget", "1")
    with sqlite3.connect(moco_home / "moco.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM memories WHERE id = 1").fetchone() == (0,)
        fts = conn.execute("SELECT rowid FROM memories_fts WHERE memories_fts MATCH 'tanaka'")
        assert fts.fetchall() == []
    result = cli.invoke(app, ["memory", "forget", "--all"], input="n\n")
    assert result.exit_code == 1
    assert "forgot 2 memories" in invoke(cli, "memory", "forget", "--all", "--yes")
    assert "no memories yet" in invoke(cli, "memory", "list")


def test_export_json_and_markdown(cli: CliRunner, tmp_path: Path) -> None:
    invoke(cli, "memory", "add", FACT)
    invoke(cli, "memory", "add", "Prefers tabs.", "--kind", "preference")
    exported = json.loads(invoke(cli, "memory", "export"))
    assert [r["text"] for r in exported] == [FACT, "Prefers tabs."]
    assert "- [2] Prefers tabs.  (preference)" in invoke(cli, "memory", "export", "-f", "md")
    target = tmp_path / "out.md"
    invoke(cli, "memory", "export", "--format", "md", "-o", str(target))
    assert target.read_text().startswith("# Memories\n")


def moco(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "moco", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def env(moco_home: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.endswith(("_API_KEY", "_BASE_URL")) and k != "MOCO_EMBEDDING_MODEL"}
    return {**clean, "MOCO_HOME": str(moco_home)}


@pytest.mark.slow
def test_errors_are_one_line(env: dict[str, str], tmp_path: Path) -> None:
    cases = [
        (["memory", "show", "42"], "error: no memory 42 — see moco memory list"),
        (["memory", "forget"], "error: give a memory id or --all (not both)"),
        (["memory", "add", "x", "--kind", "rumour"], "error: unknown kind 'rumour'"),
        (["memory", "export", "-f", "csv"], "error: unknown export format 'csv'"),
    ]
    for args, message in cases:
        result = moco(*args, env=env, cwd=tmp_path)
        assert result.returncode == 2 and result.stderr.startswith(message), result.stderr
        assert result.stderr.count("\n") == 1
    wrong = moco("memory", "list", env={**env, "MOCO_EMBEDDING_MODEL": "nosuch/x"}, cwd=tmp_path)
    assert wrong.returncode == 2 and "unknown provider 'nosuch'" in wrong.stderr


@pytest.mark.slow
def test_hybrid_search_with_an_embedding_endpoint(
    env: dict[str, str], tmp_path: Path, moco_home: Path, scripted_openai: ScriptedOpenAIServer,
) -> None:
    keyed = {**env, "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": scripted_openai.base_url}
    for text in (FACT, "Lunch is at noon on Fridays.", "The deploy script is ops/deploy.sh."):
        assert moco("memory", "add", text, env=keyed, cwd=tmp_path).returncode == 0
    result = moco("memory", "search", "Who should I ask about expense reports?", "-k", "2",
                  "--json", env=keyed, cwd=tmp_path)
    hits = json.loads(result.stdout)
    assert hits[0]["text"] == FACT and hits[0]["via"] == "hybrid"
    assert scripted_openai.embedding_requests[-1].body["model"] == "text-embedding-3-small"
    index = moco_home / "memory" / "openai" / "text-embedding-3-small" / "64.faiss"
    assert faiss.read_index(str(index)).ntotal == 3
    assert moco("memory", "forget", "1", env=keyed, cwd=tmp_path).returncode == 0
    assert faiss.read_index(str(index)).ntotal == 2
    stats = json.loads(moco("memory", "stats", "--json", env=keyed, cwd=tmp_path).stdout)
    assert stats["embedder"] == "openai/text-embedding-3-small"
    assert stats["indexes"][0]["vectors"] == 2
