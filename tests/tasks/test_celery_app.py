"""The Celery backend's settings and errors, without a broker (tests/tasks/test_celery.py runs
real workers over a real Redis)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from moco.errors import ConfigError
from moco.tasks import celery_app
from moco.tasks.celery_app import broker_url, redacted, retries, start_worker
from moco.tasks.store import TaskStore
from moco.tasks.submit import submit


def test_the_broker_url_is_required_and_must_be_redis() -> None:
    with pytest.raises(ConfigError, match=r"MOCO_TASK_BROKER is not set .*=redis://"):
        broker_url({})
    assert broker_url({"MOCO_TASK_BROKER": " redis://h:6379/2 "}) == "redis://h:6379/2"
    with pytest.raises(ConfigError) as refused:
        broker_url({"MOCO_TASK_BROKER": "amqp://me:s3cret@h//"})
    assert "s3cret" not in str(refused.value) and "amqp://me:***@h//" in str(refused.value)


def test_passwords_never_reach_a_message() -> None:
    assert redacted("redis://:pw@127.0.0.1:6380/0") == "redis://:***@127.0.0.1:6380/0"
    assert redacted("rediss://user:pw@example.org/1") == "rediss://user:***@example.org/1"
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_retries_and_the_visibility_timeout_are_whole_numbers() -> None:
    assert retries({}) == 0 and retries({"MOCO_TASK_RETRIES": "2"}) == 2
    with pytest.raises(ConfigError, match="MOCO_TASK_RETRIES must be a whole number"):
        retries({"MOCO_TASK_RETRIES": "twice"})
    with pytest.raises(ConfigError, match="must not be negative"):
        retries({"MOCO_TASK_RETRIES": "-1"})
    with pytest.raises(ConfigError, match=r"MOCO_TASK_VISIBILITY_TIMEOUT .* seconds"):
        celery_app.get_app({"MOCO_TASK_BROKER": "redis://127.0.0.1:1/0",
                            "MOCO_TASK_VISIBILITY_TIMEOUT": "1h"})


def test_the_app_acknowledges_late_and_leaves_a_lost_task_to_the_store() -> None:
    app = celery_app.get_app({"MOCO_TASK_BROKER": "redis://127.0.0.1:1/0",
                              "MOCO_TASK_VISIBILITY_TIMEOUT": "60"})
    task = app.tasks[celery_app.TASK_NAME]
    assert task.acks_late and not task.reject_on_worker_lost  # the store decides a retry
    assert app.conf.worker_prefetch_multiplier == 1 and app.conf.task_ignore_result
    assert app.conf.broker_transport_options == {"visibility_timeout": 60}
    assert app.conf.task_default_queue == "moco" and app.conf.accept_content == ["json"]


def test_a_worker_with_wrong_settings_says_so_in_one_line() -> None:
    env = {"MOCO_TASK_BROKER": "redis://127.0.0.1:1/0"}
    with pytest.raises(ConfigError, match="unknown log level 'loud'"):
        start_worker(env, loglevel="loud")
    with pytest.raises(ConfigError, match="--concurrency must be at least 1"):
        start_worker(env, concurrency=0)
    with pytest.raises(ConfigError, match="MOCO_TASK_BROKER is not set"):
        start_worker({})


def test_a_broker_that_cannot_be_reached_fails_the_task_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MOCO_TASK_BROKER", f"redis://:pw@127.0.0.1:{port}/0")
    store = TaskStore.open()
    record = store.create("never queued", backend="celery")
    with pytest.raises(ConfigError) as failed:
        submit(record)
    message = str(failed.value)
    assert "cannot queue the task on redis://:***@127.0.0.1" in message and "pw" not in message
    assert "\n" not in message
    stored = store.get(record.id)
    assert stored.status == "failed" and stored.error == message


def test_moco_help_and_worker_help_do_not_import_celery() -> None:
    code = ("import sys\n"
            "from moco.entry import main\n"
            "for argv in (['moco', '--help'], ['moco', 'worker', '--help']):\n"
            "    sys.argv = argv\n"
            "    try:\n        main()\n    except SystemExit:\n        pass\n"
            "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'celery', 'kombu', 'redis'}))")
    env = {**os.environ, "MOCO_TASK_BROKER": "redis://127.0.0.1:1/0"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env)
    assert "--concurrency" in done.stdout and "LOADED []" in done.stdout, done.stderr


def test_without_celery_the_worker_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "celery", None)  # import celery raises ImportError
    celery_app._app.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"Celery is not installed — pip install "
                                              r"\"moco\[scale\]\""):
            start_worker({"MOCO_TASK_BROKER": "redis://127.0.0.1:1/9"})
    finally:
        celery_app._app.cache_clear()
