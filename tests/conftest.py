"""Test policy: no network but loopback, and never the real ``~/.moco``."""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: moco's fixtures (moco_home, scripted_*) are opt-in for users; this suite opts in
pytest_plugins = ["moco.testing.pytest_plugin"]

ROOT = Path(__file__).resolve().parent.parent
#: fixtures the suite needs, all written for this project (see tests/fixtures/README.md)
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _is_loopback(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    else:
        return True  # unix sockets
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _isolated(moco_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets a temporary MOCO_HOME and may only connect to loopback."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise ConnectionRefusedError(f"tests may not reach the network ({address!r})")
        return real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise ConnectionRefusedError(f"tests may not reach the network ({address!r})")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setenv("HOME", str(moco_home.parent / "home"))
    (moco_home.parent / "home").mkdir(exist_ok=True)
    return moco_home


@pytest.fixture(autouse=True)
def _trusted_projects(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests write project files (.mcp.json, .moco/profiles, AGENTS.md) into tmp_path and
    expect them used: the suite opts in with MOCO_TRUST_ALL (tests/trust unset it)."""
    monkeypatch.setenv("MOCO_TRUST_ALL", "1")


@pytest.fixture(autouse=True)
def _memory_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory is on by default, and its learning call after every run would take a reply from
    tests that script exact sequences: the suite turns it off with MOCO_MEMORY (read from the
    process environment too, so it holds for an ``env`` mapping); tests/memory turn it on."""
    monkeypatch.setenv("MOCO_MEMORY", "off")


@pytest.fixture
def fixtures() -> Path:
    """``tests/fixtures``: copy what a test changes to ``tmp_path`` first."""
    return FIXTURES


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A real PostgreSQL cluster on 127.0.0.1 for the session (one per xdist worker);
    skipped without the binaries unless MOCO_POSTGRES_REQUIRED is set."""
    from moco.testing.postgres_server import PostgresServer, find_postgres_bin

    found = find_postgres_bin()
    if found is None:
        message = "PostgreSQL not found (apt-get install postgresql, or MOCO_POSTGRES_BIN)"
        if os.environ.get("MOCO_POSTGRES_REQUIRED"):
            pytest.fail(message)
        pytest.skip(message)
    with PostgresServer(found) as server:
        yield server


@pytest.fixture
def postgres_url(postgres: Any) -> str:
    """The URL of a fresh, empty database in :func:`postgres`."""
    return str(postgres.create_database(f"t_{uuid.uuid4().hex[:16]}"))


@pytest.fixture(params=["sqlite", "postgres"])
def db_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on the SQLite file, then on a fresh PostgreSQL store (``MOCO_DB_URL``);
    tests marked ``sqlite_only`` (they open the file itself) run on SQLite only."""
    if request.param == "postgres":
        if request.node.get_closest_marker("sqlite_only"):
            pytest.skip("opens the SQLite file itself")
        monkeypatch.setenv("MOCO_DB_URL", request.getfixturevalue("postgres_url"))
    return str(request.param)
