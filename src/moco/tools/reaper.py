"""Process groups die with moco, however moco dies.

A tool that starts a process group (the shell tool, background processes) registers it here.
The first registration starts one small watcher process per moco process; it reads the
registered group ids from a pipe, and when the pipe closes — moco exited, crashed or was
killed with SIGKILL, which nothing in moco itself could catch — it kills every group still
registered (SIGTERM, then SIGKILL). Groups that end normally are unregistered. A sandbox can
also register a command to run then (:meth:`GroupReaper.register_command`: the Docker sandbox
removes its container with ``docker rm -f``).

The watcher is a second line: cancellation and timeouts already kill groups in-process.
Inside the sandbox (bubblewrap's ``--die-with-parent`` and PID namespace) the kernel does the
same for everything the command started, even processes that left the group.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence

#: the watcher: one group id per line, "-" prefix to forget one; "!" and a JSON argv for a
#: command to run at the end ("-!" forgets it); on EOF kill the groups, then run the commands
_WATCHER = r"""
import json, os, signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
groups = set()
commands = {}
for line in sys.stdin:
    line = line.strip()
    if line.startswith("-!"):
        commands.pop(line[2:], None)
    elif line.startswith("!"):
        commands[line[1:]] = None
    elif line.startswith("-"):
        groups.discard(int(line[1:]))
    elif line:
        groups.add(int(line))
def alive(group):
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True
for sig in (signal.SIGTERM, signal.SIGKILL):
    for group in groups:
        try:
            os.killpg(group, sig)
        except (ProcessLookupError, PermissionError):
            pass
    for _ in range(40):
        groups = {group for group in groups if alive(group)}
        if not groups:
            break
        time.sleep(0.05)
for command in commands:
    try:
        subprocess.run(json.loads(command), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60, check=False)
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
"""


class GroupReaper:
    """Kills the registered process groups when this process goes away."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watcher: subprocess.Popen[bytes] | None = None
        self._owner_pid = 0

    @property
    def ready(self) -> bool:
        """Whether this process's watcher is running."""
        watcher = self._watcher
        return (watcher is not None and self._owner_pid == os.getpid()
                and watcher.poll() is None)

    def prepare(self) -> None:
        """Start the watcher now (call before starting a process): started lazily at the
        first registration, its own start-up would leave a window in which a killed moco
        leaves the new process behind."""
        with self._lock:
            self._ensure_watcher()

    def register(self, pgid: int) -> None:
        self._send(f"{pgid}\n")

    def unregister(self, pgid: int) -> None:
        self._send(f"-{pgid}\n")

    def register_command(self, argv: Sequence[str]) -> None:
        """Run ``argv`` when this process goes away (after the groups are killed)."""
        self._send(f"!{json.dumps(list(argv))}\n")

    def unregister_command(self, argv: Sequence[str]) -> None:
        """Forget a command given to :meth:`register_command` (it was done in-process)."""
        self._send(f"-!{json.dumps(list(argv))}\n")

    def _send(self, line: str) -> None:
        with self._lock:
            watcher = self._ensure_watcher()
            if watcher is None or watcher.stdin is None:
                return
            with contextlib.suppress(OSError, ValueError):
                watcher.stdin.write(line.encode())
                watcher.stdin.flush()

    def _ensure_watcher(self) -> subprocess.Popen[bytes] | None:
        if self._watcher is not None and self._owner_pid == os.getpid() \
                and self._watcher.poll() is None:
            return self._watcher
        try:
            self._watcher = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WATCHER],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C at the terminal does not reach it
                close_fds=True,
            )
        except OSError:
            self._watcher = None
            return None
        self._owner_pid = os.getpid()
        return self._watcher


#: the process-wide reaper every tool shares
REAPER = GroupReaper()
