"""A real ``moco worker`` (Celery) subprocess for tests and benchmarks.

Example::

    with RedisServer() as redis, CeleryWorker({**env, "MOCO_TASK_BROKER": redis.url}) as worker:
        ...                      # queue tasks; worker.kill() is a SIGKILL of the whole worker
        print(worker.output())   # what the worker logged

The worker runs in its own process group, so :meth:`CeleryWorker.kill` takes its pool
processes with it, as a machine that dies would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self


class CeleryWorker:
    """``python -m moco worker`` with ``env`` (which names ``MOCO_TASK_BROKER``)."""

    def __init__(self, env: Mapping[str, str], *, concurrency: int = 1,
                 loglevel: str = "INFO", startup_timeout: float = 60.0,
                 prefix: Sequence[str] = ()) -> None:
        self.env = dict(env)
        #: a command the worker runs under (``unshare ...``, ``taskset ...``)
        self.prefix = list(prefix)
        self.concurrency = concurrency
        self.loglevel = loglevel
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        handle, name = tempfile.mkstemp(prefix="moco-worker-", suffix=".log")
        os.close(handle)
        self.log_path = Path(name)

    def start(self) -> Self:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*self.prefix, sys.executable, "-m", "moco", "worker", "-c",
                 str(self.concurrency),
                 "-l", self.loglevel],
                env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while " ready." not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                output = self.output()
                self.stop()
                raise RuntimeError(f"moco worker did not start:\n{output[-2000:]}")
            time.sleep(0.05)
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the worker (SIGTERM: Celery's warm shutdown), killing it when it lingers."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.process is not None:
            self.kill()  # pool processes left behind in the group
        self.process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)
