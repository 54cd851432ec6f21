"""The local backend: training in worker processes beside the API process, which only serves.

Workers are spawned (not forked: TensorFlow does not survive a fork), import TensorFlow once,
and take jobs one at a time. They write start, progress and outcome to the job state (SQLite
under the store root), and read cancel requests from it between chunks of epochs, so every API
process on the machine (uvicorn --workers N) answers for every job. Each API process runs its
own pool; a watchdog thread here stops its jobs that overrun their time limit and fails the
jobs of API processes that died.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
import uuid
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from service.config import Settings
from service.errors import QueueFull, TrainingFailed
from service.jobs.backend import JobBackend
from service.jobs.record import NOT_RUN, Job, error
from service.jobs.runner import (
    AnyRequest,
    configure_tensorflow,
    kind_of,
    release_memory,
    retire_reason,
    run_job,
    worker_name,
)
from service.jobs.sqlite_state import SqliteJobState
from service.jobs.status import JobStatus
from service.store.local import ModelStore, pid_alive

log = logging.getLogger(__name__)
STATE_FILE = Path(".jobs") / "jobs.sqlite3"


class LocalJobs(JobBackend):
    state: SqliteJobState

    def __init__(
        self,
        store_root: Path,
        *,
        workers: int = 1,
        threads: int = 1,
        max_queued: int = 16,
        timeout_seconds: float = 3600,
        xla_cache: Path | None = None,
        retire_at: float = 0.5,
        max_jobs: int = 50,
        max_memory_mb: int = 2048,
    ) -> None:
        super().__init__(SqliteJobState(store_root / STATE_FILE))
        self.store_root = store_root
        self.workers = workers
        self.threads = threads
        self.max_queued = max_queued
        self.timeout_seconds = timeout_seconds
        self.xla_cache = xla_cache
        self.retire_at = retire_at  # fraction of the system's memory-map limit; see worn_out
        self.limits = (max_jobs, max_memory_mb)  # a worker's jobs and RSS before it is replaced
        self.owner = f"{worker_name()}:{uuid.uuid4().hex[:8]}"  # host:pid:instance
        self._requests: dict[str, AnyRequest] = {}  # this process's unfinished jobs
        self._futures: dict[str, Future[bool]] = {}
        self._killed: dict[str, str] = {}  # why the watchdog killed a job's worker
        self._retiring: list[ProcessPoolExecutor] = []
        self._lock = threading.RLock()  # _finish can run inside _dispatch
        self._pool: ProcessPoolExecutor | None = None
        self._warm: Future[int] | None = None
        self._watchdog: threading.Thread | None = None
        self._stopping = threading.Event()
        self._context = multiprocessing.get_context("spawn")

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalJobs:
        return cls(
            settings.store_root,
            workers=settings.training_workers,
            threads=settings.worker_threads,
            max_queued=settings.max_queued_jobs,
            timeout_seconds=settings.job_timeout_seconds,
            xla_cache=settings.store_root / ".cache" / "xla" if settings.xla_cache else None,
            retire_at=settings.worker_retire_at,
            max_jobs=settings.worker_max_trainings,
            max_memory_mb=settings.worker_max_memory_mb,
        )

    # Lifecycle

    def start(self) -> None:
        self._pool = self._new_pool()
        self._watchdog = threading.Thread(target=self._watch, name="job-watchdog", daemon=True)
        self._watchdog.start()

    def _new_pool(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=self._context,
            initializer=_init_worker,
            initargs=(
                self.threads,
                str(self.state.path),
                self.xla_cache,
                self.retire_at,
                self.limits,
            ),
        )
        self._warm = pool.submit(os.getpid)  # starts a worker now: it imports TensorFlow
        return pool

    def _replace_pool(self, broken: ProcessPoolExecutor) -> None:
        """A worker died (killed, out of memory): its pool is unusable, so start a new one."""
        with self._lock:
            if self._pool is broken and not self._stopping.is_set():
                log.warning("a training worker died; starting a new pool")
                self._pool = self._new_pool()
        broken.shutdown(wait=False, cancel_futures=True)

    def _retire(self, pool: ProcessPoolExecutor) -> None:
        """The pool's worker is wearing out (see `retire_reason`): new jobs go to a fresh pool,
        and jobs still queued in this one are moved there (`_finish` sees them cancelled)."""
        with self._lock:
            if self._pool is not pool or self._stopping.is_set():
                return
            log.info("retiring a training worker (see its log for why); starting anew")
            self._retiring = [*self._retiring[-3:], pool]  # only the latest still drain
            self._pool = self._new_pool()
        pool.shutdown(wait=False, cancel_futures=True)

    def ready(self) -> dict[str, bool]:
        warm = self._warm
        return {"workers": warm is not None and warm.done() and warm.exception() is None}

    def shutdown(self) -> None:
        """Cancel this process's unfinished jobs and stop its workers."""
        self._stopping.set()
        with self._lock:
            unfinished = list(self._requests)
        for job_id in unfinished:
            self.cancel(job_id)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    # Jobs

    def submit(self, request: AnyRequest) -> Job:
        assert self._pool is not None, "LocalJobs.start() was not called"
        limit = self.workers + self.max_queued
        with self._lock:
            if len(self._requests) >= limit:
                raise QueueFull(
                    f"{len(self._requests)} training jobs are queued or running, the limit is "
                    f"{limit}; retry later"
                )
            job = Job(uuid.uuid4().hex, request.model_name, kind=kind_of(request), owner=self.owner)
            self.state.add(job)
            self._requests[job.id] = request
        self._dispatch(job.id)
        return job

    def _dispatch(self, job_id: str) -> None:
        request = self._requests[job_id]
        task = partial(_run_local, job_id, request, str(self.store_root), self.timeout_seconds)
        with self._lock:  # not while _retire swaps pools
            pool = self._pool
            assert pool is not None
            try:
                future = pool.submit(task)
            except (BrokenProcessPool, RuntimeError):  # broken, or shut down as it retired
                if pool is self._pool:
                    self._replace_pool(pool)
                pool = self._pool
                assert pool is not None
                future = pool.submit(task)
            self._futures[job_id] = future
            future.add_done_callback(lambda done: self._finish(job_id, done, pool))

    # Internals

    def _finish(self, job_id: str, future: Future[bool], pool: ProcessPoolExecutor) -> None:
        """A worker is done with the job, or its pool is: decide whether it runs elsewhere."""
        crash = None if future.cancelled() else future.exception()
        if isinstance(crash, BrokenProcessPool):
            self._replace_pool(pool)
        if future.cancelled() or isinstance(crash, BrokenProcessPool):
            if self._move(job_id):
                return
        elif crash is not None:
            log.error("training job %s crashed: %r", job_id, crash)
            failure = error(TrainingFailed.code, repr(crash))
            self.state.finish(job_id, JobStatus.failed, error=failure)
        elif future.result():
            self._retire(pool)
        self._forget(job_id)

    def _move(self, job_id: str) -> bool:
        """A job whose pool went away: one that never started runs in the fresh pool (it was
        queued behind a job whose worker died, or behind a retired worker); one that was
        running failed with its worker."""
        job = self.state.get(job_id)
        if job.status is JobStatus.queued and not self._stopping.is_set():
            self._dispatch(job.id)
            return True
        if job.status is JobStatus.queued:
            self.state.finish(job.id, JobStatus.cancelled, error=NOT_RUN)
        else:
            message = self._killed.get(job.id, "its training worker died (killed or out of memory)")
            self.state.finish(job.id, JobStatus.failed, error=error(TrainingFailed.code, message))
        return False

    def _forget(self, job_id: str) -> None:
        with self._lock:
            self._requests.pop(job_id, None)
            self._futures.pop(job_id, None)
            self._killed.pop(job_id, None)

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            try:
                for job in self.state.unfinished():
                    self._check(job)
            except Exception:  # the watchdog must outlive one bad pass
                log.exception("job watchdog")

    def _check(self, job: Job) -> None:
        if job.owner == self.owner:
            self._stop_overrun(job)
        elif job.owner and _same_host(job.owner, self.owner) and not _alive(job.owner):
            # Its API process died (killed, out of memory), and its workers with it.
            message = f"the API process that ran it stopped while it was {job.status}"
            self.state.finish(job.id, JobStatus.failed, error=error(TrainingFailed.code, message))

    def _stop_overrun(self, job: Job) -> None:
        """Kill the worker of a job that overran its time limit without stopping by itself (a
        training stops between chunks of epochs; one chunk can still run long)."""
        grace = max(10.0, 0.1 * self.timeout_seconds)
        if job.status is not JobStatus.running or job.started_at is None or not job.worker_pid:
            return
        if (datetime.now(UTC) - job.started_at).total_seconds() <= self.timeout_seconds + grace:
            return
        if job.id in self._killed:
            return
        self._killed[job.id] = f"job exceeded its time limit of {self.timeout_seconds:g} s"
        log.warning("killing training worker %s: %s", job.worker_pid, self._killed[job.id])
        with contextlib.suppress(ProcessLookupError):
            os.kill(job.worker_pid, signal.SIGKILL)


def _same_host(a: str, b: str) -> bool:
    return a.split(":")[0] == b.split(":")[0]


def _alive(owner: str) -> bool:
    pid = owner.split(":")[1]
    return pid.isdigit() and (int(pid) == os.getpid() or pid_alive(int(pid)))


# Worker side. These run in the spawned training processes.

_worker: dict[str, Any] = {}


def _init_worker(
    threads: int, state: str, xla_cache: Path | None, retire_at: float, limits: tuple[int, int]
) -> None:
    configure_tensorflow(threads, xla_cache)
    _worker.update(state=SqliteJobState(Path(state)), retire_at=retire_at, limits=limits, jobs=0)
    parent = os.getppid()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A worker whose API process died (killed, out of memory) would otherwise train on for
    nobody's pool: it leaves as soon as it is orphaned (the survivors fail its job)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _run_local(job_id: str, request: AnyRequest, store_root: str, timeout: float) -> bool:
    """Run one job; True when this worker is worn out and should be replaced."""
    store = ModelStore(Path(store_root))
    # What the previous job left is freed before this one, not after it: the 0.3 s it takes
    # would otherwise keep a job that reads as finished in its worker slot.
    release_memory()
    run_job(_worker["state"], job_id, request, store, timeout_seconds=timeout)
    _worker["jobs"] += 1
    max_jobs, max_memory_mb = _worker["limits"]
    reason = retire_reason(
        jobs_run=_worker["jobs"],
        max_jobs=max_jobs,
        max_memory_mb=max_memory_mb,
        retire_at=_worker["retire_at"],
    )
    if reason:
        log.info("training worker %d retires: %s", os.getpid(), reason)
    return bool(reason)
