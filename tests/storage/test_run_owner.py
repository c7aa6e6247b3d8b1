"""A run left 'running' by a process that died is marked 'interrupted' when the store opens."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from moco.storage.owner import current_owner, owner_is_alive
from moco.storage.session_logger import SessionLogger

#: every test on the SQLite file and on a PostgreSQL store (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("db_backend")

START_AND_HANG = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from moco.storage.session_logger import SessionLogger
    store = SessionLogger.open(Path(sys.argv[1]))
    session = store.create_session(title="killed").id
    run = store.start_run(session, agent="lead", task="work")
    print(session, run, flush=True)
    time.sleep(60)
""")


def test_runs_of_a_killed_process_become_interrupted(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", START_AND_HANG, str(tmp_path)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    session, run = process.stdout.readline().split()
    try:
        store = SessionLogger.open(tmp_path)
        record = store.get_run(run)
        assert record is not None and record.status == "running", "a live run was touched"
        assert record.owner is not None and owner_is_alive(record.owner)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    reopened = SessionLogger.open(tmp_path)
    stored = reopened.get_run(run)
    assert stored is not None and stored.status == "interrupted"
    assert stored.finished_at is not None
    assert [r.status for r in reopened.runs(session)] == ["interrupted"]


def test_own_runs_stay_running(tmp_path: Path) -> None:
    store = SessionLogger.open(tmp_path)
    session = store.create_session().id
    run = store.start_run(session, agent="lead", task="x")
    assert store.mark_interrupted_runs() == 0
    record = store.get_run(run)
    assert record is not None and record.status == "running"
    assert record.owner == current_owner()


def test_owner_liveness() -> None:
    assert owner_is_alive(current_owner())
    assert not owner_is_alive(None) and not owner_is_alive("")
    host = current_owner().split(":")[0]
    assert owner_is_alive("some-other-host:1:1"), "another host's runs are left alone"
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    assert not owner_is_alive(f"{host}:{finished.stdout.strip()}:1")
    assert not owner_is_alive(f"{host}:{os.getpid()}:0"), "a recycled pid is not the owner"


def test_a_zombie_is_not_an_owner() -> None:
    """A killed process nobody has reaped yet keeps its pid and /proc entry: it is dead."""
    import time

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owner = f"{current_owner().split(':')[0]}:{child.pid}:{_ticks(child.pid)}"
        assert owner_is_alive(owner)
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while owner_is_alive(owner) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not owner_is_alive(owner)
    finally:
        child.kill()
        child.wait()


def _ticks(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[19]
