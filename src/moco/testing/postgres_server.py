"""A real PostgreSQL server for tests and benchmarks: loopback only, a free port, no files kept.

Example::

    with PostgresServer() as pg:
        env["MOCO_DB_URL"] = pg.create_database("moco_test")   # postgresql://...

The binaries (``initdb``, ``pg_ctl``) are looked for in ``MOCO_POSTGRES_BIN``, then on
``PATH``, then in Debian's ``/usr/lib/postgresql/<version>/bin`` (``apt-get install
postgresql``, which starts nothing by itself here); :func:`find_postgres_bin` returns None
when there are none, so a test can skip. ``initdb`` refuses to run as root: as root the
cluster is made and run by the ``postgres`` user (through ``runuser``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

SUPERUSER = "moco"


def find_postgres_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None."""
    configured = os.environ.get("MOCO_POSTGRES_BIN")
    if configured:
        folder = Path(configured)
        return folder if (folder / "initdb").is_file() else None
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                      else 0)
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """A throw-away cluster in a temporary directory, trusting local connections."""

    def __init__(self, bin_dir: Path | None = None, *, startup_timeout: float = 30.0) -> None:
        found = bin_dir or find_postgres_bin()
        if found is None:
            raise FileNotFoundError("PostgreSQL not found: apt-get install postgresql, "
                                    "or set MOCO_POSTGRES_BIN to the folder of initdb")
        self.bin_dir = found
        self.startup_timeout = startup_timeout
        self.port = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._running = False

    @property
    def data_dir(self) -> Path:
        assert self._dir is not None
        return Path(self._dir.name) / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False,
                                stdin=subprocess.DEVNULL, timeout=self.startup_timeout + 30)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:]
            raise RuntimeError(f"{args[0]} failed: {' '.join(detail)}")

    def start(self) -> Self:
        self._dir = tempfile.TemporaryDirectory(prefix="moco-postgres-")
        root = Path(self._dir.name)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        root.chmod(0o700)
        self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "-A", "trust",
                  "-E", "UTF8", "--no-sync", "--no-instructions")
        for _ in range(3):  # the free port may be taken between the probe and the bind
            self.port = _free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {self.port} "
                       f"-c unix_socket_directories={root} -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off")
            try:
                self._run("pg_ctl", "-D", str(self.data_dir), "-o", options, "-w",
                          "-t", str(int(self.startup_timeout)), "-l",
                          str(root / "server.log"), "start")
            except RuntimeError:
                continue
            self._running = True
            return self
        log = (root / "server.log").read_text(errors="replace")[-500:]
        self.stop()
        raise RuntimeError(f"PostgreSQL did not start on 127.0.0.1: {log}")

    def create_database(self, name: str) -> str:
        """Create database ``name`` (it must not exist yet); returns its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self._running:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
            self._running = False
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
