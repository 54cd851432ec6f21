"""`forecast-service worker`: a Celery worker that runs training jobs from Redis on the same
code as the local pool (runner.py), against the shared store.

- Prefork: the parent process never imports TensorFlow; each child imports it once, after the
  fork, in `worker_process_init` (TensorFlow does not survive a fork).
- Before each job a child gives back what the last one held (`release_memory`), and it is recycled
  after FORECAST_WORKER_MAX_TRAININGS jobs (`worker_max_tasks_per_child`), past
  FORECAST_WORKER_MAX_MEMORY_MB of RSS, or once XLA's memory maps wear it out (`worn_out`),
  through billiard's own recycling: it checks `mem_rss()` against
  `worker_max_memory_per_child` after every task, and here reports "over" when the maps,
  which Celery cannot measure, are.
- Progress, cancel requests and outcomes go through the job state (redis_state.py); the
  parent sends a heartbeat there every few seconds, which is what /ready counts, and fails
  the running jobs of nodes whose heartbeats stopped (killed whole: no parent left to).
- Failures the task cannot report itself (its process killed by the hard time limit, or lost
  twice) reach `task_failure` in the parent, which fails the job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any, ClassVar

from billiard.exceptions import WorkerLostError
from celery import Task, bootsteps, signals
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from service.config import Settings
from service.errors import BrokerUnavailable, TrainingFailed
from service.jobs.celery_app import TASK, make_celery
from service.jobs.celery_backend import ALIVE_WITHIN, HEARTBEAT_SECONDS
from service.jobs.record import error
from service.jobs.redis_state import RedisJobState
from service.jobs.runner import (
    AnyRequest,
    configure_tensorflow,
    release_memory,
    run_job,
    worn_out,
)
from service.jobs.status import JobStatus
from service.schemas.backtest import BacktestRequest
from service.schemas.train import TrainRequest
from service.schemas.upload import UploadRequest
from service.store.local import ModelStore

log = logging.getLogger(__name__)
settings: Settings = Settings()
app = make_celery(settings)
_process: dict[str, Any] = {}  # this process's job-state client, made after the fork


def state() -> RedisJobState:
    if "state" not in _process:
        _process["state"] = RedisJobState(settings.redis_url, prefix=settings.redis_prefix)
    found: RedisJobState = _process["state"]
    return found


@app.task(  # type: ignore[untyped-decorator]
    name=TASK,
    bind=True,
    acks_late=True,
    retry_on_worker_lost=True,
    max_retries=1,
    default_retry_delay=0,
)
def run(task: Task, job_id: str, kind: str, request: str, timeout_seconds: float) -> None:
    kinds: dict[str, type[AnyRequest]] = {"backtest": BacktestRequest, "upload": UploadRequest}
    parsed = kinds.get(kind, TrainRequest).model_validate_json(request)
    store = ModelStore(settings.store_root)
    release_memory()  # what the previous job left, before this one (see local.py)
    try:
        run_job(
            state(), job_id, parsed, store, timeout_seconds=timeout_seconds, max_attempts=2,
            node=task.request.hostname,
        )  # fmt: skip
    except SoftTimeLimitExceeded:
        _fail(job_id, f"job exceeded its time limit of {timeout_seconds:g} s")


@signals.task_failure.connect(sender=run)  # type: ignore[untyped-decorator]
def _on_failure(
    task_id: str | None = None, exception: BaseException | None = None, **_: Any
) -> None:
    """Also in the parent: the hard time limit, and a process lost more often than retried."""
    if task_id is None:
        return
    if isinstance(exception, TimeLimitExceeded):
        _fail(task_id, f"job exceeded its hard time limit of {exception.args[0]:g} s; killed")
    elif isinstance(exception, WorkerLostError):
        _fail(task_id, f"its training worker died twice (killed or out of memory): {exception}")
    else:
        _fail(task_id, f"its training worker failed: {exception!r}")


def _fail(job_id: str, message: str) -> None:
    try:
        state().finish(job_id, JobStatus.failed, error=error(TrainingFailed.code, message))
    except BrokerUnavailable:
        log.error("job %s failed (%s), and the job state does not answer", job_id, message)


@signals.worker_process_init.connect  # type: ignore[untyped-decorator]
def _init_process(**_: Any) -> None:
    """In each child, after the fork: TensorFlow, and the memory-map watch."""
    _process.clear()  # the parent's connections are not this process's
    xla = settings.store_root / ".cache" / "xla" if settings.xla_cache else None
    configure_tensorflow(settings.worker_threads, xla)
    _watch_memory_maps(settings.worker_max_memory_mb * 1024, settings.worker_retire_at)
    ModelStore(settings.store_root).open()  # clears saves of this machine's dead processes


def _watch_memory_maps(limit_kb: int, retire_at: float) -> None:
    import billiard.pool

    measured = billiard.pool.mem_rss

    def mem_rss() -> int:
        return limit_kb + 1 if worn_out(retire_at) else int(measured())

    billiard.pool.mem_rss = mem_rss


class Heartbeat(bootsteps.StartStopStep):  # type: ignore[misc]
    """Every few seconds, from the parent: this node is up (for /ready), and the jobs of
    nodes silent for as long as /ready waits are failed (see `RedisJobState.reap`). A node
    reaps only once its own beats have gone through for that long: after a Redis outage every
    node's last beat is old, and none may fail another's job before that one beat again."""

    requires: ClassVar = {"celery.worker.components:Timer"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.timer: Any = None
        self.beating_since: float | None = None

    def start(self, worker: Any) -> None:
        self.beat(worker)
        self.timer = worker.timer.call_repeatedly(HEARTBEAT_SECONDS, self.beat, (worker,))

    def stop(self, worker: Any) -> None:
        if self.timer is not None:
            self.timer.cancel()
        with contextlib.suppress(BrokerUnavailable):
            state().forget_worker(worker.hostname)

    def beat(self, worker: Any) -> None:
        try:
            state().beat(worker.hostname)
            self.beating_since = self.beating_since or time.monotonic()
            if time.monotonic() - self.beating_since > ALIVE_WITHIN:
                for job_id in state().reap(ALIVE_WITHIN):
                    log.warning("job %s failed: its worker node stopped answering", job_id)
        except BrokerUnavailable:
            self.beating_since = None
            log.warning("heartbeat not sent: the job state does not answer")


app.steps["worker"].add(Heartbeat)


def main(argv: list[str]) -> None:
    """Start the worker: `forecast-service worker [--concurrency N] [celery worker options]`."""
    Path(settings.store_root).mkdir(parents=True, exist_ok=True)
    defaults = [
        "--pool=prefork",
        f"--concurrency={settings.training_workers}",
        f"--hostname=forecast-{os.getpid()}@%h",  # unique per process, for the heartbeats
        "--without-gossip",  # the job state already says what gossip and mingle would
        "--without-mingle",
        "--loglevel=INFO",
    ]
    app.worker_main(["worker", *defaults, *argv])
