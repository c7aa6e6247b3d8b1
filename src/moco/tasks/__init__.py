"""Background tasks: ``moco tasks run`` queues a task, a worker runs it (see docs/tasks.md).

- :mod:`moco.tasks.store` — the ``tasks`` and ``task_events`` tables;
- :mod:`moco.tasks.runner` — :func:`~moco.tasks.runner.run_task`, the one code path every
  backend calls;
- :mod:`moco.tasks.submit` — hands a queued task to a backend (a detached local worker, or
  Celery when ``MOCO_TASK_BROKER`` is set);
- :mod:`moco.tasks.worker` — ``python -m moco.tasks.worker TASK_ID`` / ``--drain``.

Nothing here imports a provider SDK at import time.
"""
