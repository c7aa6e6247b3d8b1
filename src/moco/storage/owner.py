"""Which process owns a run, and whether that process is still alive.

A run row records its owner as ``host:pid:start``, where ``start`` is the process's start
time in clock ticks since boot (Linux ``/proc/<pid>/stat``), so a recycled pid is not taken
for the process that died. Without ``/proc`` the start is empty and liveness falls back to
``kill(pid, 0)``.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path


def _start_ticks(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()
    if fields and fields[0] in ("Z", "X"):  # a zombie has died, but keeps its pid until reaped
        return ""  # (forever, where init does not reap: a killed Celery worker's pool process)
    return fields[19] if len(fields) > 19 else ""  # field 22 of stat(5); 2 precede ')'


@functools.cache
def _host() -> str:
    return socket.gethostname()


def current_owner() -> str:
    """This process, as it is written into a run row."""
    return owner_of(os.getpid())


def owner_of(pid: int) -> str:
    """Process ``pid`` of this host (a child just started) in the same form."""
    return f"{_host()}:{pid}:{_start_ticks(pid)}"


def owner_is_alive(owner: str | None) -> bool:
    """False when ``owner`` names a process of this host that has gone; True when it is
    running, or lives on another host (which this process cannot check)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != _host():
        return True
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if start and Path("/proc").is_dir():
        return _start_ticks(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
