"""Background tasks on Celery workers over Redis: ``MOCO_TASK_BROKER=redis://host:6379/0``.

The broker only carries a task id. The task store is the truth: the options, the status,
the heartbeat, ``cancel_requested`` and the events all live there, so a worker on another
host runs the task with :func:`moco.tasks.runner.run_task` — the code path of a local
worker — and ``moco tasks cancel`` reaches it through the store. API keys never travel
through the broker: a worker takes them from its own environment.

Delivery: ``acks_late`` (the message is acknowledged when the task has ended) and
``worker_prefetch_multiplier=1`` (a worker holds only the task it runs). The store decides
what a death means, where it can be checked:

- a pool process dies (OOM killer, ``kill -9``): the worker's main process, on the host
  where the pid can be checked, finds the task ``interrupted`` at once and, while
  ``MOCO_TASK_RETRIES`` allows, queues it again with a new message that counts the retry
  (:func:`_on_failure`; ``reject_on_worker_lost`` stays off, so Celery does not requeue);
- the whole worker dies: its message stays unacknowledged and Redis hands it back after
  ``MOCO_TASK_VISIBILITY_TIMEOUT`` seconds (kombu's default, one hour) — long after the
  heartbeat went stale, so that delivery finds the task ``interrupted`` and drops it, or
  retries it through :meth:`Task.retry` (:func:`_should_run`). The store shows the task
  ``interrupted`` as soon as anyone reads it.

Celery is imported only here, and this module only when a task is queued or ``moco worker``
starts: ``pip install "moco[scale]"``.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from moco.errors import ConfigError, MocoError

if TYPE_CHECKING:
    from celery import Celery

BROKER_VAR = "MOCO_TASK_BROKER"
RETRIES_VAR = "MOCO_TASK_RETRIES"
VISIBILITY_VAR = "MOCO_TASK_VISIBILITY_TIMEOUT"
TASK_NAME = "moco.run_task"
QUEUE = "moco"
INSTALL_HINT = 'pip install "moco[scale]"'
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_SCHEMES = ("redis", "rediss", "redis+socket")

log = logging.getLogger(__name__)


def broker_url(env: Mapping[str, str]) -> str:
    """``MOCO_TASK_BROKER`` checked, or one line saying what to set."""
    url = (env.get(BROKER_VAR) or "").strip()
    if not url:
        raise ConfigError(f"{BROKER_VAR} is not set — point it at Redis, e.g. "
                          f"{BROKER_VAR}=redis://127.0.0.1:6379/0")
    if urlsplit(url).scheme not in _SCHEMES:
        raise ConfigError(f"{BROKER_VAR} must be a redis://, rediss:// or redis+socket:// URL, "
                          f"not {redacted(url)}")
    return url


def redacted(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"{user}:***@{host}{port}").geturl()


def _number(env: Mapping[str, str], name: str, default: int) -> int:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number of "
                          f"{'seconds' if name == VISIBILITY_VAR else 'retries'}, "
                          f"not {text!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


def retries(env: Mapping[str, str]) -> int:
    """How often a task whose worker died is run again (``MOCO_TASK_RETRIES``, default 0)."""
    return _number(env, RETRIES_VAR, 0)


def get_app(env: Mapping[str, str] | None = None) -> Celery:
    """The Celery app of ``MOCO_TASK_BROKER`` (one per URL and visibility timeout)."""
    env = os.environ if env is None else env
    return _app(broker_url(env), _number(env, VISIBILITY_VAR, 3600))


@functools.cache
def _app(url: str, visibility_timeout: int) -> Celery:
    try:
        from celery import Celery
    except ImportError:
        raise ConfigError(f"Celery is not installed — {INSTALL_HINT}") from None
    app = Celery("moco", broker=url, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_serializer="json", accept_content=["json"],
        task_ignore_result=True,  # the task store holds every outcome
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": visibility_timeout},
        # enqueue() fails within ~1 s instead of hanging when Redis is down
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0,
                                   "interval_step": 0.3, "interval_max": 0.3},
    )
    task = app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=False,
                    max_retries=None)(_run_delivered)
    from celery.signals import task_failure

    task_failure.connect(_on_failure, sender=task, weak=False)
    return app


def enqueue(task_id: str, env: Mapping[str, str] | None = None) -> None:
    """Send task ``task_id`` (in the store, ``queued``) to the Celery queue; when the broker
    cannot take it, the task is finished ``failed`` (no worker would ever see it)."""
    from kombu.exceptions import OperationalError

    env = os.environ if env is None else env
    app = get_app(env)
    try:
        app.send_task(TASK_NAME, args=[task_id], queue=QUEUE)
    except OperationalError as error:
        message = (f"cannot queue the task on {redacted(broker_url(env))}: {error} — "
                   "is Redis running there?")
        _fail(task_id, env, message)
        raise ConfigError(message) from None


def _fail(task_id: str, env: Mapping[str, str], message: str) -> None:
    from moco.tasks.store import TaskStore

    store = TaskStore.open(env)
    try:
        store.finish(task_id, "failed", message)
    finally:
        store.db.close()


def _run_delivered(task: Any, task_id: str) -> None:
    """The body of ``moco.run_task``: one delivery of the message of ``task_id``."""
    from moco.config import load_environment
    from moco.tasks.runner import run_task

    env = load_environment()
    if not _should_run(task, task_id, env):
        return
    try:
        run_task(task_id, env)
    except MocoError as error:  # the runner has recorded it; the message is done
        log.warning("task %s: %s", task_id, error)


def _should_run(task: Any, task_id: str, env: Mapping[str, str]) -> bool:
    """Whether this delivery runs the task; queues it again (a retry) when an earlier
    delivery's worker died and ``MOCO_TASK_RETRIES`` allows one more attempt."""
    from moco.tasks.store import TaskStore

    store = TaskStore.open(env)
    try:
        record = store.recover(task_id)  # a dead worker's task reads interrupted
        if record is None:
            log.warning("task %s is not in the task store: its message is dropped", task_id)
            return False
        if record.status != "interrupted":
            return True  # queued: runs; ended or running elsewhere: run_task leaves it alone
        allowed = retries(env)
        if task.request.retries >= allowed or not store.requeue(task_id):
            log.warning("task %s was interrupted: %s (%d retries allowed)", task_id,
                        record.error, allowed)
            return False
    finally:
        store.db.close()
    log.warning("task %s was interrupted by a dead worker: retry %d of %d", task_id,
                task.request.retries + 1, allowed)
    raise task.retry(countdown=0, max_retries=allowed)


def _on_failure(sender: Any, task_id: str, exception: BaseException, args: Sequence[Any],
                **_: Any) -> None:
    """In the worker's main process, when a pool process died running a task: the task is
    ``interrupted`` at once (its pid is gone on this host), or queued again while
    ``MOCO_TASK_RETRIES`` allows, with a new message that counts the retry."""
    from billiard.exceptions import WorkerLostError

    from moco.config import load_environment
    from moco.tasks.store import TaskStore

    if not isinstance(exception, WorkerLostError) or not args:
        return
    moco_id, env = str(args[0]), load_environment()
    store = TaskStore.open(env)
    try:
        record = store.recover(moco_id)
        attempt = sender.request.retries + 1
        if record is None or record.status != "interrupted" or attempt > retries(env):
            return
        if store.requeue(moco_id):
            log.warning("task %s: its pool process died — retry %d of %d", moco_id, attempt,
                        retries(env))
            sender.signature_from_request(sender.request, retries=attempt).apply_async()
    finally:
        store.db.close()


def start_worker(
    env: Mapping[str, str],
    *,
    concurrency: int | None = None,
    queues: Sequence[str] = (),
    loglevel: str = "INFO",
) -> None:
    """Run a Celery worker for ``MOCO_TASK_BROKER`` in this process until it is stopped."""
    level = loglevel.upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"unknown log level {loglevel!r} — use one of "
                          f"{', '.join(LOG_LEVELS)}")
    if concurrency is not None and concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    app = get_app(env)
    argv = ["worker", f"--loglevel={level}", f"--queues={','.join(queues or [QUEUE])}",
            f"--hostname=moco-{os.getpid()}@%h", "--without-gossip", "--without-mingle"]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    app.worker_main(argv)


def __getattr__(name: str) -> Any:
    """``app`` for ``celery -A moco.tasks.celery_app worker``: built on first use."""
    if name == "app":
        return get_app()
    raise AttributeError(name)
