"""codebase_search: a real git repository, the index under MOCO_HOME, embeddings from the
scripted OpenAI server through the real openai SDK."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from moco.errors import ToolError
from moco.storage.code_index import INDEX_DIR, CodeIndex, fts_query, fuse, index_folder
from moco.testing.embeddings import fake_embedding
from moco.testing.openai_server import ScriptedOpenAIServer
from moco.testing.script import Reply
from moco.tools import codebase
from moco.tools.code_chunks import chunk_file
from moco.tools.code_files import GitIgnore, list_files
from moco.tools.codebase import codebase_search
from moco.tools.context import ToolContext

from .conftest import Runner

AUTH_PY = '''\
"""Tokens for the web app."""

import hmac

SECRET_HEADER = "X-Signature"


def sign_payload(payload: bytes, key: bytes) -> str:
    """Sign a payload with the key."""
    return hmac.new(key, payload, "sha256").hexdigest()


class TokenChecker:
    """Checks tokens against the key."""

    limit = 3

    @staticmethod
    def verify_token(token: str, key: bytes) -> bool:
        """Verify the token's signature."""
        body, _, signature = token.rpartition(".")
        return hmac.compare_digest(sign_payload(body.encode(), key), signature)
'''

BILLING_PY = '''\
def totals(rows):
    """Sum the expense report rows per month."""
    return sum(row.amount for row in rows)
'''

GUIDE_MD = """\
# Guide

Start here.

## Installing

Run pip install moco.

```
# not a heading
```

## Deploying to production

Use the container image and set the replica count.
"""


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)


@pytest.fixture
def repo(workdir: Path) -> Path:
    git(workdir, "init", "-q", "-b", "main")
    (workdir / "src" / "app").mkdir(parents=True)
    (workdir / "src" / "app" / "auth.py").write_text(AUTH_PY)
    (workdir / "src" / "app" / "billing.py").write_text(BILLING_PY)
    (workdir / "docs").mkdir()
    (workdir / "docs" / "guide.md").write_text(GUIDE_MD)
    (workdir / "settings.yaml").write_text("".join(f"key{i}: {i}\n" for i in range(100))
                                           + "replicas: zebrafish\n")
    (workdir / ".gitignore").write_text("*.log\nscratch/\n")
    (workdir / "debug.log").write_text("zebrafish in the ignored log\n")
    (workdir / "scratch").mkdir()
    (workdir / "scratch" / "notes.txt").write_text("zebrafish in an ignored folder\n")
    (workdir / "node_modules" / "pkg").mkdir(parents=True)
    (workdir / "node_modules" / "pkg" / "index.js").write_text("// zebrafish dependency\n")
    (workdir / "logo.bin").write_bytes(b"\x89PNG\0\0zebrafish\0" * 10)
    git(workdir, "add", "src", "docs", ".gitignore")
    git(workdir, "-c", "user.name=T", "-c", "user.email=t@example.com", "-c",
        "commit.gpgsign=false", "commit", "-q", "-m", "initial")
    return workdir  # settings.yaml and logo.bin stay untracked (and not ignored)


def _age(root: Path) -> None:
    """Date ``root`` (a file, or every file under a folder) an hour back: older than the
    index's racy window, as files are between edits."""
    paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
    for path in paths:
        info = path.stat()
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns - 3600 * 10**9))


def _snapshot(root: Path) -> dict[Path, int]:
    """Every path of the project (outside .git) and its modification time."""
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if ".git" not in p.parts}


async def test_results_point_at_the_definition_section_and_line(run: Runner, repo: Path) -> None:
    found = await run(codebase_search, query="verify token signature")
    assert found.splitlines()[0] == "src/app/auth.py:18 TokenChecker.verify_token (18-22)"
    assert "    def verify_token(token: str, key: bytes) -> bool:" not in found  # dedented
    assert "  def verify_token(token: str, key: bytes) -> bool:" in found

    section = await run(codebase_search, query="deploying production replica", k=1)
    assert section.splitlines()[0] == "docs/guide.md:13 Deploying to production (13-15)"

    line = await run(codebase_search, query="zebrafish")
    assert line.splitlines() == ["settings.yaml:101 (51-101)", "  replicas: zebrafish"]


async def test_ignored_binary_and_dependency_files_are_not_indexed(repo: Path) -> None:
    assert list_files(repo) == [".gitignore", "docs/guide.md", "logo.bin", "settings.yaml",
                                "src/app/auth.py", "src/app/billing.py"]
    index = CodeIndex.open(repo)
    index.update(list_files(repo))
    paths = {hit.path for hit in index.keyword_search("zebrafish", k=30)}
    assert paths == {"settings.yaml"}  # not the log, scratch/, node_modules nor logo.bin
    index.close()


async def test_an_unchanged_tree_is_not_read_and_one_edit_is_one_file(repo: Path) -> None:
    _age(repo)
    index = CodeIndex.open(repo)
    first = index.update(list_files(repo))
    assert (first.files, first.read, first.chunked) == (6, 6, 6)
    again = index.update(list_files(repo))
    assert (again.read, again.chunked, again.chunks, again.removed) == (0, 0, 0, 0)

    (repo / "src" / "app" / "billing.py").write_text(BILLING_PY + "\n\ndef refund(row):\n"
                                                      "    return -row.amount\n")
    _age(repo / "src" / "app" / "billing.py")
    edited = index.update(list_files(repo))
    assert (edited.read, edited.chunked, edited.chunks) == (1, 1, 2)
    assert [hit.symbol for hit in index.keyword_search("refund")] == ["refund"]

    os.utime(repo / "docs" / "guide.md")  # touched, same content: read, not chunked
    touched = index.update(list_files(repo))
    assert (touched.read, touched.chunked) == (1, 0)
    index.close()


async def test_a_deleted_file_leaves_the_results(run: Runner, repo: Path) -> None:
    assert "src/app/billing.py:1 totals" in await run(codebase_search, query="expense totals")
    (repo / "src" / "app" / "billing.py").unlink()
    after = await run(codebase_search, query="expense totals")
    assert "billing.py" not in after


async def test_path_scopes_the_search(run: Runner, repo: Path) -> None:
    (repo / "docs" / "tokens.md").write_text("# Tokens\n\nHow to verify a token.\n")
    scoped = await run(codebase_search, query="verify token", path="docs")
    assert scoped.splitlines()[0].startswith("docs/tokens.md:1 Tokens")
    assert "src/app" not in scoped
    only_file = await run(codebase_search, query="token", path="src/app/auth.py")
    assert {line.split(":")[0] for line in only_file.splitlines() if not line.startswith(" ")} \
        == {"src/app/auth.py"}


async def test_the_index_lives_under_moco_home_and_the_project_is_untouched(
    run: Runner, repo: Path, moco_home: Path
) -> None:
    before = _snapshot(repo)
    await run(codebase_search, query="sign payload")
    assert _snapshot(repo) == before
    folder = index_folder(moco_home, repo)
    assert folder.parent == moco_home / INDEX_DIR and (folder / "index.db").is_file()
    assert not (folder / "vectors").exists()  # no embedder: keyword search only


async def test_hybrid_search_finds_by_meaning_through_the_scripted_server(
    run: Runner, ctx: ToolContext, repo: Path, moco_home: Path,
    scripted_openai: ScriptedOpenAIServer,
) -> None:
    ctx.env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": scripted_openai.base_url,
               "MOCO_EMBEDDING_MODEL": "openai/text-embedding-3-small"}
    query = "monthly expenditure"  # no word of it is in the code: only the vectors know
    found = await run(codebase_search, query=query, k=2)
    assert found.splitlines()[0] == "src/app/billing.py:1 totals (1-3)"
    assert CodeIndex.open(repo).keyword_search(query) == []
    embedded = [text for request in scripted_openai.embedding_requests
                for text in request.body["input"]]
    assert embedded[0] == query and len(embedded) > 5  # the query, then every chunk
    vectors = index_folder(moco_home, repo) / "vectors"
    (name,) = [p.name for p in vectors.iterdir()]  # one FAISS file, named by the embedder
    assert name.startswith("openai_text-embedding-3-small-") and name.endswith(".faiss")

    (repo / "src" / "app" / "billing.py").write_text(BILLING_PY.replace("month", "quarter"))
    scripted_openai.embedding_requests.clear()
    await run(codebase_search, query=query)
    again = [text for request in scripted_openai.embedding_requests
             for text in request.body["input"]]
    assert len(again) == 2 and again[0] == query and "quarter" in again[1]


async def test_keyword_only_without_an_embedder_and_when_embeddings_fail(
    run: Runner, ctx: ToolContext, repo: Path, scripted_openai: ScriptedOpenAIServer
) -> None:
    assert (await run(codebase_search, query="monthly expenditure")).startswith("no results")
    ctx.env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": scripted_openai.base_url,
               "MOCO_EMBEDDING_MODEL": "openai/text-embedding-3-small"}
    scripted_openai.add_embedding(Reply.error(401, "bad key"))
    found = await run(codebase_search, query="expense report")
    assert found.splitlines()[0].startswith("(keyword search only: embeddings failed:")
    assert found.splitlines()[1] == "src/app/billing.py:1 totals (1-3)"


def test_python_chunks_follow_the_syntax_tree() -> None:
    chunks = chunk_file("auth.py", AUTH_PY)
    spans = [(c.start, c.end, c.symbol, c.kind) for c in chunks]
    assert spans == [
        (1, 7, "", "code"),
        (8, 10, "sign_payload", "function"),
        (13, 17, "TokenChecker", "class"),
        (18, 22, "TokenChecker.verify_token", "function"),
    ]
    assert chunks[3].text.lstrip().startswith("@staticmethod")
    broken = chunk_file("broken.py", "def (:\n" * 130)
    assert [(c.start, c.end, c.kind) for c in broken] == [(1, 60, "lines"), (51, 110, "lines"),
                                                         (101, 130, "lines")]


def test_markdown_chunks_are_sections_and_fences_are_not_headings() -> None:
    chunks = chunk_file("guide.md", GUIDE_MD)
    assert [(c.start, c.end, c.symbol) for c in chunks] == [
        (1, 4, "Guide"), (5, 12, "Installing"), (13, 15, "Deploying to production")]


def test_a_long_function_is_cut_into_windows_keeping_its_name() -> None:
    body = "def long():\n" + "".join(f"    x{i} = {i}\n" for i in range(200))
    chunks = chunk_file("long.py", body)
    assert {c.symbol for c in chunks} == {"long"} and chunks[0].start == 1
    assert chunks[-1].end == 201 and all(c.end - c.start < 150 for c in chunks)


def test_outside_git_the_gitignore_files_are_applied(workdir: Path) -> None:
    (workdir / ".gitignore").write_text("# comment\n*.tmp\n/top.txt\nbuild-out/\n!keep.tmp\n")
    (workdir / "sub" / "deep").mkdir(parents=True)
    (workdir / "sub" / ".gitignore").write_text("deep/*.txt\n")
    for name in ("a.py", "x.tmp", "keep.tmp", "top.txt", "sub/top.txt", "sub/deep/n.txt",
                 "sub/deep/n.py", "build-out/o.js", ".venv/lib.py", "dist/d.js"):
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).write_text("x\n")
    assert list_files(workdir) == [".gitignore", "a.py", "keep.tmp", "sub/.gitignore",
                                   "sub/deep/n.py", "sub/top.txt"]
    assert list_files(workdir, under="sub") == ["sub/.gitignore", "sub/deep/n.py", "sub/top.txt"]
    assert list_files(workdir, under="sub/deep/n.txt") == []  # sub/.gitignore says so
    assert list_files(workdir, under="a.py") == ["a.py"]
    assert list_files(workdir, under="build-out") == []
    assert list_files(workdir, limit=1) == [".gitignore", "a.py", "keep.tmp"]  # the root only
    rules = GitIgnore()
    rules.add_file(workdir / ".gitignore", "")
    assert rules.ignored("a/b/c.tmp", False) and not rules.ignored("a/keep.tmp", False)


def test_keyword_query_and_rank_fusion() -> None:
    assert fts_query("Where is parseHeader?") == '"parseheader"* OR "header"* OR "parse"*'
    assert fts_query("the truncated results of a tool") == '"truncat"* OR "result"* OR "tool"*'
    assert fts_query("...") == ""
    fused = fuse({"keyword": [1, 2, 3], "vector": [3, 4]})
    assert [(chunk_id, via) for chunk_id, _, via in fused] == [
        (3, "hybrid"), (1, "keyword"), (2, "keyword"), (4, "vector")]


async def test_a_large_tree_is_indexed_under_the_path_asked_for(
    run: Runner, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "src/app/billing.py:1" in await run(codebase_search, query="expense totals")
    monkeypatch.setattr(codebase, "MAX_FILES", 3)
    with pytest.raises(ToolError, match=r"^the working directory holds more than 3 files"):
        await run(codebase_search, query="expense totals")
    (repo / "docs" / "guide.md").write_text("# Expenses\n\nHow totals are made.\n")
    scoped = await run(codebase_search, query="expense totals", path="docs")
    assert scoped.splitlines()[0] == "docs/guide.md:1 Expenses (1-3)"
    monkeypatch.setattr(codebase, "MAX_FILES", 20_000)  # what lies outside docs/ was kept
    assert "src/app/billing.py:1" in await run(codebase_search, query="expense totals")


async def test_a_cancelled_run_stops_the_indexing(
    run: Runner, ctx: ToolContext, repo: Path
) -> None:
    assert ctx.cancelled is not None
    ctx.cancelled.set()
    with pytest.raises(ToolError, match=r"^codebase search cancelled$"):
        await run(codebase_search, query="token")


class CountingEmbedder:
    """A tiny in-test embedder: fake_embedding vectors, every call's size recorded."""

    def __init__(self, name: str = "test/counting", dim: int = 16) -> None:
        self.name, self.dim = name, dim
        self.calls: list[int] = []

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(len(texts))
        return [fake_embedding(text, self.dim) for text in texts]

    async def aclose(self) -> None:
        return None


async def test_vectors_follow_the_chunks_in_batches_and_across_a_model_change(
    workdir: Path,
) -> None:
    for number in range(45):
        (workdir / f"m{number}.py").write_text(
            "".join(f"def f{number}_{i}():\n    return {i}\n\n\n" for i in range(10)))
    index = CodeIndex.open(workdir)
    index.update(list_files(workdir))
    embedder = CountingEmbedder()
    assert await index.embed_missing(embedder) == 450  # 4 requests at once, then 1
    assert embedder.calls == [96, 96, 96, 96, 66]
    assert await index.embed_missing(embedder) == 0  # nothing missing: no call
    vectors = index._vector_file(embedder.name)
    assert len(vectors.ids()) == 450 and vectors.path.is_file()

    (workdir / "m0.py").unlink()
    index.update(list_files(workdir))
    assert await index.embed_missing(embedder) == 0
    assert len(vectors.ids()) == 440 == index.counts()["vectors:test/counting"]

    wider = CountingEmbedder(dim=32)  # the same name, another dimension: starts over
    hits = await index.search("f3_4", k=1, embedder=wider)
    assert wider.calls == [1, 96, 96, 96, 96, 56] and vectors.dim == 32
    assert (hits[0].path, hits[0].symbol, hits[0].via) == ("m3.py", "f3_4", "hybrid")
    index.close()

    again = CodeIndex.open(workdir)  # another process: the saved files, nothing re-embedded
    reader = CountingEmbedder(dim=32)
    assert (await again.search("f3_4", k=1, embedder=reader))[0].symbol == "f3_4"
    assert reader.calls == [1]
    again.close()


async def test_a_moco_home_inside_the_working_directory_is_not_indexed(
    run: Runner, ctx: ToolContext, repo: Path
) -> None:
    home = repo / "home" / ".moco"  # e.g. moco started in the home folder
    ctx.env = {"MOCO_HOME": str(home)}
    await run(codebase_search, query="sign payload")
    (home / "notes.md").write_text("# Zebrafish notes\n")
    assert "home/" not in await run(codebase_search, query="zebrafish", k=30)
    index = CodeIndex.open(repo, ctx.env)
    assert index.folder.is_relative_to(home)
    assert not [row[0] for row in index.db.query("SELECT path FROM files")
                if row[0].startswith("home/")]
    index.close()


@pytest.mark.slow
def test_moco_run_offers_the_tool_and_the_model_gets_path_line(
    repo: Path, scripted_openai: ScriptedOpenAIServer, moco_home: Path
) -> None:
    scripted_openai.add(Reply.call("codebase_search", {"query": "verify token signature"}),
                        Reply.say("It is TokenChecker.verify_token."))
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=scripted_openai.base_url,
               MOCO_EMBEDDING_MODEL="openai/text-embedding-3-small")
    done = subprocess.run([sys.executable, "-m", "moco", "run", "Where are tokens checked?"],
                          env=env, cwd=repo, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = scripted_openai.requests[1].body["messages"][-1]
    assert result["role"] == "tool"
    assert result["content"].startswith("src/app/auth.py:18 TokenChecker.verify_token")
    assert scripted_openai.embedding_requests  # hybrid: the run's environment named a model
    assert index_folder(moco_home, repo).is_dir()
