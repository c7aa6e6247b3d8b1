"""Helpers of the MCP tests: where the official reference servers are, and which processes
this test process started.

The servers are installed by ``scripts/install-test-servers.sh``: npm
``@modelcontextprotocol/server-everything`` (found through ``MOCO_MCP_EVERYTHING`` or under
``/opt/moco-test-servers``) and PyPI ``mcp-server-time``. Tests that need a missing one skip
with a reason saying how to install it.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest

DEFAULT_EVERYTHING = Path(
    "/opt/moco-test-servers/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
)
INSTALL_HINT = "run scripts/install-test-servers.sh"


def missing(reason: str) -> NoReturn:
    """Skip the test — or fail it when ``MOCO_MCP_REQUIRED=1`` (CI, where the servers are
    installed, so a broken installation cannot pass as skipped tests)."""
    if os.environ.get("MOCO_MCP_REQUIRED") == "1":
        pytest.fail(f"{reason} and MOCO_MCP_REQUIRED=1")
    pytest.skip(reason)


def everything_path() -> Path:
    """The server-everything entry point, or skip the test."""
    path = Path(os.environ.get("MOCO_MCP_EVERYTHING") or DEFAULT_EVERYTHING)
    if not path.is_file():
        missing(f"MCP server-everything not installed at {path} ({INSTALL_HINT} or set "
                "MOCO_MCP_EVERYTHING to its dist/index.js)")
    if not _which("node"):
        missing("node is not installed (needed by MCP server-everything)")
    return path


def require_time_server() -> list[str]:
    """The command line of mcp-server-time, or skip the test."""
    if importlib.util.find_spec("mcp_server_time") is None:
        missing(f"mcp-server-time is not installed ({INSTALL_HINT})")
    return [sys.executable, "-m", "mcp_server_time"]


def child_processes() -> dict[int, str]:
    """Live (not zombie) direct children of this process: pid -> command line."""
    found: dict[int, str] = {}
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if int(ppid) == me and state != "Z":
            found[int(entry.name)] = command.strip()
    return found


def children_running(fragment: str) -> list[int]:
    return [pid for pid, command in child_processes().items() if fragment in command]


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def everything_over_http() -> Iterator[str]:
    """server-everything on streamable HTTP; yields its endpoint URL."""
    entry = everything_path()
    port = free_port()
    process = subprocess.Popen(
        ["node", str(entry), "streamableHttp"],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not wait_until(lambda: _port_open(port) or process.poll() is not None, 15):
            pytest.fail("server-everything (streamable HTTP) did not open its port in 15 s")
        if process.poll() is not None:
            pytest.fail(f"server-everything (streamable HTTP) exited with {process.returncode}")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def _which(name: str) -> bool:
    from shutil import which

    return which(name) is not None
