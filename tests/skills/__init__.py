"""Helpers shared by the skills tests: skill folders, local git repositories, an HTTP server."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}
FIXTURE_SKILLS = ("api-smoke-testing", "ascii-banner-creator", "cli-builder", "release-notes")


def write_skill(
    root: Path,
    name: str,
    description: str = "Does a thing. Use when testing.",
    *,
    folder: str | None = None,
    body: str = "Follow these steps.",
    front: str = "",
    files: dict[str, str] | None = None,
) -> Path:
    """Create ``root/<folder or name>/SKILL.md`` (and ``files``); returns the folder."""
    directory = root / (folder or name)
    directory.mkdir(parents=True, exist_ok=True)
    text = f"---\nname: {name}\ndescription: {description}\n{front}---\n\n{body}\n"
    (directory / "SKILL.md").write_text(text, encoding="utf-8")
    for relative, content in (files or {}).items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return directory


def copy_fixture_skills(fixtures: Path, dest: Path) -> Path:
    """Copy the fixture skills into ``dest`` (tests never change ``tests/fixtures``)."""
    shutil.copytree(fixtures / "skills", dest, dirs_exist_ok=True)
    return dest


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
        env={**os.environ, **GIT_IDENTITY},
    )
    return done.stdout.strip()


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """A git repository at ``path`` with one commit on ``main`` (``files`` and whatever is
    already there)."""
    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main", cwd=path)
    for relative, content in (files or {}).items():
        target = path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    commit_all(path, "initial")
    return path


def commit_all(path: Path, message: str) -> str:
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", message, cwd=path)
    return git("rev-parse", "HEAD", cwd=path)


def bare_copy(repo: Path, dest: Path) -> Path:
    """A bare clone of ``repo`` at ``dest`` (like a repository on a git host)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    git("clone", "-q", "--bare", str(repo), str(dest), cwd=repo.parent)
    return dest


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1; yields the base URL."""
    handler = partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
