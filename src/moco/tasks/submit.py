"""Hand a queued task to a backend.

Local (the default): a detached worker process, ``python -m moco.tasks.worker TASK_ID``, in
its own session (``start_new_session``: closing the terminal does not reach it), stdin from
``/dev/null``, stdout and stderr to ``$MOCO_HOME/tasks/<id>.log`` (what the worker itself
prints, e.g. a crash; the task's events are in the database). With ``MOCO_TASK_BROKER`` set
the task goes to the Celery queue instead (:mod:`moco.tasks.celery_app`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from moco.config import ensure_private_dir, moco_home
from moco.errors import ConfigError
from moco.storage.owner import owner_of
from moco.tasks.store import TaskRecord, TaskStore

BROKER_VARIABLE = "MOCO_TASK_BROKER"


def submit(record: TaskRecord, env: Mapping[str, str] | None = None) -> None:
    """Start ``record`` (a queued task) on the backend ``env`` chooses (default: this
    process's environment)."""
    environment = dict(os.environ if env is None else env)
    if environment.get(BROKER_VARIABLE):
        try:
            from moco.tasks.celery_app import enqueue
        except ImportError as error:
            raise ConfigError(f"{BROKER_VARIABLE} is set, but the Celery backend cannot be "
                              f"loaded ({error}) — pip install \"celery[redis]\", or unset "
                              f"{BROKER_VARIABLE} to run tasks locally") from error
        enqueue(record.id, environment)
        return
    process = start_local_worker([record.id], environment)
    store = TaskStore.open(environment)
    try:
        store.assign(record.id, owner_of(process.pid))
    finally:
        store.db.close()


def worker_log(task_id: str, env: Mapping[str, str] | None = None) -> Path:
    """Where a local worker's own output goes: ``$MOCO_HOME/tasks/<id>.log``."""
    return moco_home(env) / "tasks" / f"{task_id}.log"


def start_local_worker(arguments: list[str], env: dict[str, str],
                       log_name: str | None = None) -> subprocess.Popen[bytes]:
    """A detached ``python -m moco.tasks.worker ARGUMENTS`` with the environment ``env``
    (``MOCO_HOME`` made explicit, so it opens the same database)."""
    home = moco_home(env).resolve()
    folder = ensure_private_dir(home / "tasks")
    log_path = folder / f"{log_name or arguments[0]}.log"
    child_env = {**env, "MOCO_HOME": str(home)}
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "moco.tasks.worker", *arguments],
            stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, env=child_env, cwd=str(home),
            start_new_session=True, close_fds=True)
    except OSError as error:
        raise ConfigError(f"cannot start a background worker: {error}") from error
    finally:
        os.close(fd)
