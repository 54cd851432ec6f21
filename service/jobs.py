"""Training jobs, run in worker processes so the API process only serves.

Workers are spawned (not forked: TensorFlow does not survive a fork), import TensorFlow once,
and take jobs one at a time. They report start and per-chunk progress on a queue that a thread
here reads; they look for a cancel flag between chunks of epochs. The JobManager is the only
interface the API sees, so a distributed backend (Celery workers, say) can replace it later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any, Literal

from service.errors import (
    ERRORS_BY_CODE,
    JobNotFound,
    QueueFull,
    ServiceError,
    TrainingFailed,
    TrainingRejected,
)
from service.schemas import BacktestRequest, TrainRequest

log = logging.getLogger(__name__)


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


@dataclass
class Job:
    id: str
    model_name: str
    status: JobStatus = JobStatus.queued
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: dict[str, Any] | None = None
    card: dict[str, Any] | None = None  # the stored version's card, once succeeded
    backtest: dict[str, Any] | None = None  # a backtest job's result, once succeeded
    error: dict[str, Any] | None = None  # {code, message, field}, once failed or cancelled
    request: TrainRequest | BacktestRequest | None = field(default=None, repr=False)
    kind: Literal["train", "backtest"] = "train"
    cancel_requested: bool = False
    pid: int | None = None  # the worker running it
    killed: str | None = None  # why the watchdog killed its worker, if it did
    future: Future[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def duration(self) -> float | None:
        """Seconds from start (or creation, if it never ran) to finish."""
        if self.finished_at is None:
            return None
        return (self.finished_at - (self.started_at or self.created_at)).total_seconds()

    def raise_error(self) -> None:
        """Re-raise a failed job's error as the domain error it was in the worker."""
        if self.error is not None:
            cls = ERRORS_BY_CODE.get(self.error["code"], TrainingFailed)
            raise cls(self.error["message"], field=self.error.get("field"))


class JobManager:
    def __init__(
        self,
        store_root: Path,
        *,
        workers: int = 1,
        threads: int = 1,
        max_queued: int = 16,
        timeout_seconds: float = 3600,
        keep_finished: int = 200,
        xla_cache: Path | None = None,
        on_finished: Callable[[Job], None] | None = None,
        log_every_epochs: int = 500,
        retire_at: float = 0.5,
    ) -> None:
        self.store_root = store_root
        self.workers = workers
        self.threads = threads
        self.max_queued = max_queued
        self.timeout_seconds = timeout_seconds
        self.keep_finished = keep_finished
        self.xla_cache = str(xla_cache) if xla_cache else None
        self.on_finished = on_finished
        self.log_every_epochs = log_every_epochs
        self.retire_at = retire_at  # fraction of the system's memory-map limit; see _worn_out
        self._retiring: list[ProcessPoolExecutor] = []
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.RLock()  # _finish can run inside cancel() and _dispatch
        self._pool: ProcessPoolExecutor | None = None
        self._warm: Future[int] | None = None
        self._listener: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
        self._stopping = threading.Event()
        self._flags = store_root / ".jobs"
        self._context = multiprocessing.get_context("spawn")

    # Lifecycle

    def start(self) -> None:
        self._events = self._context.Queue()
        self._flags.mkdir(parents=True, exist_ok=True)
        self._pool = self._new_pool()
        self._listener = threading.Thread(target=self._listen, name="job-events", daemon=True)
        self._listener.start()
        self._watchdog = threading.Thread(target=self._watch, name="job-watchdog", daemon=True)
        self._watchdog.start()

    def _new_pool(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=self._context,
            initializer=_init_worker,
            initargs=(self.threads, self._events, str(self._flags), self.xla_cache, self.retire_at),
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
        """The pool's worker is wearing out (see `_worn_out`): new jobs go to a fresh pool, and
        jobs still queued in this one are moved there (`_finish` sees them cancelled)."""
        with self._lock:
            if self._pool is not pool or self._stopping.is_set():
                return
            log.info("retiring a training worker (memory maps of compiled models); starting anew")
            self._retiring = [*self._retiring[-3:], pool]  # only the latest still drain
            self._pool = self._new_pool()
        pool.shutdown(wait=False, cancel_futures=True)

    def ready(self) -> bool:
        return self._warm is not None and self._warm.done() and self._warm.exception() is None

    def shutdown(self) -> None:
        """Cancel what has not finished and stop the workers."""
        self._stopping.set()
        with self._lock:
            unfinished = [job for job in self._jobs.values() if not job.status.finished]
        for job in unfinished:
            self.cancel(job.id)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._listener is not None:
            self._events.put(None)
            self._listener.join(timeout=5)
            self._events.close()
            self._events.join_thread()

    # Jobs

    def submit(self, request: TrainRequest | BacktestRequest) -> Job:
        """Queue a training, or a refit backtest (whose `version` is resolved already)."""
        assert self._pool is not None, "JobManager.start() was not called"
        with self._lock:
            pending = sum(not job.status.finished for job in self._jobs.values())
            if pending >= self.workers + self.max_queued:
                raise QueueFull(
                    f"{pending} training jobs are queued or running, the limit is "
                    f"{self.workers + self.max_queued}; retry later"
                )
            kind: Literal["train", "backtest"] = (
                "backtest" if isinstance(request, BacktestRequest) else "train"
            )
            job = Job(
                id=uuid.uuid4().hex, model_name=request.model_name, request=request, kind=kind
            )
            self._jobs[job.id] = job
            self._forget_old()
        self._dispatch(job)
        return job

    def _dispatch(self, job: Job) -> None:
        assert job.request is not None
        task = partial(_run_job, job.id, job.request, str(self.store_root), self.timeout_seconds)
        with self._lock:  # not while _retire swaps pools, nor while cancel() looks at the future
            pool = self._pool
            assert pool is not None
            try:
                job.future = pool.submit(task)
            except (BrokenProcessPool, RuntimeError):  # broken, or shut down as it retired
                if pool is self._pool:
                    self._replace_pool(pool)
                fresh = self._pool
                assert fresh is not None
                pool, job.future = fresh, fresh.submit(task)
            job.future.add_done_callback(lambda future: self._finish(job, future, pool))

    async def wait(self, job: Job) -> Job:
        """Until the job is finished, following it if it moves to a fresh pool."""
        while not job.status.finished:
            future = job.future
            assert future is not None
            try:
                await asyncio.wrap_future(future)
            except BaseException:  # the job records its own failure; the caller reads it there
                if not future.done():
                    raise  # this request was cancelled, not the job
            while not job.status.finished and job.future is future:
                await asyncio.sleep(0.01)  # the done-callback may still be running
        return job

    def get(self, job_id: str) -> Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise JobNotFound(f"job {job_id!r} does not exist", field="job_id") from None

    def list(self) -> list[Job]:
        with self._lock:
            return list(reversed(self._jobs.values()))

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        with self._lock:  # so that a job being moved to a fresh pool sees the request
            if job.status.finished:
                return job
            job.cancel_requested = True
            if job.future is not None and job.future.cancel():
                return job  # cancel() ran the done-callback, which marked it
        (self._flags / f"{job.id}.cancel").touch()  # the worker stops at its next chunk
        return job

    # Internals

    def _finish(self, job: Job, future: Future[dict[str, Any]], pool: ProcessPoolExecutor) -> None:
        (self._flags / f"{job.id}.cancel").unlink(missing_ok=True)
        if future.cancelled():
            with self._lock:
                moving = pool in self._retiring and not job.cancel_requested
                if moving and not self._stopping.is_set():
                    self._dispatch(job)  # queued behind a retired worker: to the fresh one
                    return
            self._mark(job, JobStatus.cancelled, error=_NOT_RUN)
            return
        error = future.exception()
        if isinstance(error, BrokenProcessPool):
            self._replace_pool(pool)
            if job.started_at is None and not self._stopping.is_set():
                self._dispatch(job)  # it was only queued behind the job whose worker died
                return
            message = job.killed or "its training worker died (killed or out of memory)"
            self._mark(job, JobStatus.failed, error=_error(TrainingFailed.code, message))
            return
        if error is not None:
            log.error("training job %s crashed: %r", job.id, error)
            self._mark(job, JobStatus.failed, error=_error(TrainingFailed.code, repr(error)))
            return
        outcome = future.result()
        if outcome.get("retire"):
            self._retire(pool)
        if "card" in outcome or "backtest" in outcome:
            job.card, job.backtest = outcome.get("card"), outcome.get("backtest")
            self._mark(job, JobStatus.succeeded)
        else:
            status = JobStatus.cancelled if outcome["cancelled"] else JobStatus.failed
            self._mark(job, status, error=outcome["error"])

    def _mark(self, job: Job, status: JobStatus, *, error: dict[str, Any] | None = None) -> None:
        job.error = error
        job.finished_at = datetime.now(UTC)
        job.request = None  # its data can be large; finished jobs are kept for a while
        job.status = status
        log.info(
            "training job %s for %s %s after %.1f s%s",
            job.id,
            job.model_name,
            status,
            job.duration,
            f": {error['message']}" if error else "",
            extra={"job_id": job.id, "model_name": job.model_name, "status": str(status)},
        )
        if self.on_finished is not None:
            self.on_finished(job)

    def _listen(self) -> None:
        while (event := self._events.get()) is not None:
            kind, job_id, payload = event
            job = self._jobs.get(job_id)
            if job is None or job.status.finished:
                continue
            if kind == "started":
                job.status, job.started_at = JobStatus.running, datetime.now(UTC)
                job.pid = payload["pid"]
                log.info("training job %s for %s started", job.id, job.model_name)
            elif kind == "progress":
                self._progress(job, payload)

    def _progress(self, job: Job, progress: dict[str, Any]) -> None:
        before = job.progress["epoch"] if job.progress else 0
        place = ("stage", "network", "origin")
        if job.progress and any(job.progress.get(k) != progress.get(k) for k in place):
            before = 0  # the next network or origin starts from its first epoch
        job.progress = progress
        if progress["epoch"] // self.log_every_epochs > before // self.log_every_epochs:
            network = progress.get("network")
            log.info(
                "training job %s:%s epoch %d/%d loss %.4g after %.1f s",
                job.id,
                f" {progress['stage']} {network}/{progress['networks']}," if network else "",
                progress["epoch"],
                progress["total"],
                progress["loss"],
                progress["elapsed"],
            )

    def _watch(self) -> None:
        """Kill the worker of a job that overran its time limit without stopping by itself (a
        training stops between chunks of epochs; one chunk can still run long)."""
        grace = max(10.0, 0.1 * self.timeout_seconds)
        while not self._stopping.wait(0.5):
            now = datetime.now(UTC)
            for job in self.list():
                if job.status is not JobStatus.running or job.started_at is None or not job.pid:
                    continue
                if (now - job.started_at).total_seconds() > self.timeout_seconds + grace:
                    job.killed = f"job exceeded its time limit of {self.timeout_seconds:g} s"
                    log.warning("killing training worker %s: %s", job.pid, job.killed)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(job.pid, signal.SIGKILL)
                    job.pid = None

    def _forget_old(self) -> None:
        finished = [j.id for j in self._jobs.values() if j.status.finished]
        for job_id in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._jobs[job_id]


_NOT_RUN = {"code": "cancelled", "message": "cancelled before it ran", "field": None}


def _error(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "field": field}


def enable_xla_cache(folder: Path) -> None:
    """Keep XLA's compiled training loops on disk: retraining a network of the same shape (the
    common case for a service) skips the compilation, about a second per training here.
    Must run before TensorFlow is imported."""
    folder.mkdir(parents=True, exist_ok=True)
    flag = f"--tf_xla_persistent_cache_directory={folder}"
    os.environ["TF_XLA_FLAGS"] = f"{os.environ.get('TF_XLA_FLAGS', '')} {flag}".strip()


# Worker side. These run in the spawned training processes.

_worker: dict[str, Any] = {}


def _init_worker(
    threads: int, events: Any, flags: str, xla_cache: str | None, retire_at: float
) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if xla_cache:
        enable_xla_cache(Path(xla_cache))
    import tensorflow as tf

    # Capped so that serving in the API process keeps a core while a model trains.
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.config.experimental.enable_op_determinism()
    _worker.update(events=events, flags=Path(flags), retire_at=retire_at)
    parent = os.getppid()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A worker whose API process died (killed, out of memory) would otherwise train on, then
    block forever on a queue nobody reads: it leaves as soon as it is orphaned."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _worn_out() -> bool:
    """Whether this worker should be replaced. XLA keeps every executable it compiles, in memory
    maps, for the life of the process: about 170 maps per model trained, so a worker dies at the
    system's limit (vm.max_map_count, 65,530 by default) after some 380 trainings. Past
    `retire_at` of the limit (half: room for the jobs already handed to it), it asks to go."""
    try:
        limit = int(Path("/proc/sys/vm/max_map_count").read_text())
        with open("/proc/self/maps", "rb") as maps:
            used = sum(1 for _ in maps)
    except (OSError, ValueError):  # not Linux: no such limit to watch
        return False
    return used >= limit * _worker["retire_at"]


def _run_job(
    job_id: str, request: TrainRequest | BacktestRequest, store_root: str, timeout_seconds: float
) -> dict[str, Any]:
    outcome = _job_outcome(job_id, request, store_root, timeout_seconds)
    outcome["retire"] = _worn_out()
    return outcome


def _job_outcome(
    job_id: str, request: TrainRequest | BacktestRequest, store_root: str, timeout_seconds: float
) -> dict[str, Any]:
    from service.backtesting import refit_backtest
    from service.store import ModelStore
    from service.trainer import train_and_store

    events, flag = _worker["events"], _worker["flags"] / f"{job_id}.cancel"
    events.put(("started", job_id, {"pid": os.getpid()}))
    started = time.monotonic()
    store = ModelStore(Path(store_root))
    origin: dict[str, int] = {}  # a refit backtest's position, added to its progress

    def should_cancel() -> bool:
        return flag.exists() or time.monotonic() - started > timeout_seconds

    def on_progress(progress: Any) -> None:
        events.put(("progress", job_id, {**asdict(progress), **origin}))

    def on_origin(done: int, total: int) -> None:
        origin.update(origin=min(done + 1, total), origins=total)

    try:
        if isinstance(request, BacktestRequest):
            origin.update(origin=1, origins=request.origins)
            result = refit_backtest(
                request, store, on_progress=on_progress, on_origin=on_origin,
                should_cancel=should_cancel,
            )  # fmt: skip
            if should_cancel():
                raise TrainingRejected("backtest was cancelled")
            return {"backtest": result.model_dump(mode="json")}
        card = train_and_store(request, store, on_progress=on_progress, should_cancel=should_cancel)
    except ServiceError as error:
        timed_out = time.monotonic() - started > timeout_seconds
        message = (
            f"job exceeded its time limit of {timeout_seconds:g} s" if timed_out else error.message
        )
        return {"error": _error(error.code, message, error.field), "cancelled": flag.exists()}
    return {"card": card.model_dump(mode="json")}
