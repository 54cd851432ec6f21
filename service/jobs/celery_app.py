"""The Celery application both sides share: the API sends tasks by name through it, the worker
(worker.py) runs them. Configured so that a job has one outcome whatever dies:

- `task_acks_late` and a prefetch of one: a message leaves the queue only once its job has
  finished, and no worker holds jobs it is not running (idle workers take them instead).
- `retry_on_worker_lost` with `max_retries=1` (on the task, worker.py): a worker process that
  dies mid-job (SIGKILL, out of memory) has its job sent again once; a second death fails it.
  Celery's own `reject_on_worker_lost` would requeue forever.
- the Redis transport's visibility timeout beyond the longest job, so a job still running is
  never handed to a second worker (a message is redelivered only after its worker is gone).
- a publish that fails at once when Redis is down: /train answers 503 instead of hanging.

There is no Celery result backend: job state and outcome live in the job-state hashes
(redis_state.py), which the API must read anyway to list jobs, show progress and cancel.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from service.config import Settings

TASK = "forecast.run_job"


def time_limits(timeout_seconds: float) -> dict[str, float]:
    """Per-job limits: the soft one raises in the task at the job timeout (the training also
    stops itself there, between chunks), the hard one kills the process a grace period later."""
    grace = max(10.0, 0.1 * timeout_seconds)
    return {"soft_time_limit": timeout_seconds, "time_limit": timeout_seconds + grace}


def queue_name(settings: Settings) -> str:
    return settings.redis_prefix + "train"


def make_celery(settings: Settings) -> Celery:
    app = Celery("forecast", broker=settings.redis_url, set_as_current=False)
    app.conf.update(_config(settings))
    return app


def _config(settings: Settings) -> dict[str, Any]:
    longest = time_limits(settings.job_timeout_seconds)["time_limit"]
    return {
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "task_default_queue": queue_name(settings),
        "task_acks_late": True,
        "worker_prefetch_multiplier": 1,
        "task_publish_retry": False,
        "broker_connection_timeout": 2,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"visibility_timeout": int(longest + 300)},
        # TensorFlow's import in each new process takes 5-7 s, past the 4 s default.
        "worker_proc_alive_timeout": 120,
        "worker_max_memory_per_child": settings.worker_max_memory_mb * 1024,
        "worker_max_tasks_per_child": settings.worker_max_trainings,
        "worker_hijack_root_logger": False,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "worker_enable_remote_control": True,  # revoke reaches the workers
    }
