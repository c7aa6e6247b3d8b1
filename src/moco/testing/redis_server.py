"""A real ``redis-server`` for tests and benchmarks: loopback only, a free port, no files kept.

Example::

    with RedisServer() as redis:
        env["MOCO_TASK_BROKER"] = redis.url   # redis://127.0.0.1:PORT/0
        ...

The binary is ``MOCO_REDIS_SERVER`` or ``redis-server`` on ``PATH`` (Debian: ``apt-get install
redis-server``, which does not start a server by itself); :func:`find_redis_server` returns
None when there is none, so a test can skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self


def find_redis_server() -> str | None:
    """The ``redis-server`` binary to start, or None."""
    configured = os.environ.get("MOCO_REDIS_SERVER")
    if configured:
        return configured if Path(configured).is_file() else None
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """``redis-server`` on 127.0.0.1 with persistence off, in a temporary directory."""

    def __init__(self, binary: str | None = None, *, startup_timeout: float = 10.0) -> None:
        found = binary or find_redis_server()
        if found is None:
            raise FileNotFoundError("redis-server not found: apt-get install redis-server, "
                                    "or set MOCO_REDIS_SERVER")
        self.binary = found
        self.startup_timeout = startup_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Self:
        self._dir = tempfile.TemporaryDirectory(prefix="moco-redis-")
        for _ in range(3):  # the free port may be taken between the probe and the bind
            self.port = _free_port()
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--daemonize", "no",
                 "--dir", self._dir.name, "--logfile", ""],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL)
            if self._wait_ready():
                return self
            self._kill()
        self.stop()
        raise RuntimeError(f"{self.binary} did not start on 127.0.0.1")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            if _pong(self.port):
                return True
            time.sleep(0.02)
        return False

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._kill()
        self.process = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
