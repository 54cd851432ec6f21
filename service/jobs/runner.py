"""Running one job inside a training worker, for either backend: the spawned pool's processes
(local) and Celery's prefork children. Reads and writes go to the shared job state, so every
API process sees the start, the progress and the outcome as they happen.

Nothing here imports TensorFlow at module level: `configure_tensorflow` does, once per worker
process, after the fork (Celery) or in the spawned process (local).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from service.errors import (
    BrokerUnavailable,
    JobCancelled,
    ServiceError,
    TrainingFailed,
    TrainingRejected,
)
from service.forecasting.training import Progress, TrainingContext
from service.jobs.record import Kind, error
from service.jobs.state import JobState, Start
from service.jobs.status import JobStatus
from service.schemas.backtest import BacktestRequest
from service.schemas.train import TrainRequest
from service.schemas.upload import UploadRequest
from service.store.local import ModelStore

log = logging.getLogger(__name__)
T = TypeVar("T")

AnyRequest = TrainRequest | BacktestRequest | UploadRequest
# How long a finished job's worker keeps trying to record its outcome while Redis is away.
# Past it the outcome is lost from the state but not from the store: a redelivered message
# finds the version published under the job's id and records it then (see `_published`).
OUTCOME_PATIENCE_SECONDS = 300.0


def kind_of(request: AnyRequest) -> Kind:
    if isinstance(request, UploadRequest):
        return "upload"
    return "backtest" if isinstance(request, BacktestRequest) else "train"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_job(
    state: JobState,
    job_id: str,
    request: AnyRequest,
    store: ModelStore,
    *,
    timeout_seconds: float,
    max_attempts: int = 1,
    node: str | None = None,
) -> None:
    """Run the job unless it was cancelled or finished meanwhile, and record its outcome.
    `node`: the Celery worker node whose heartbeats vouch for this process."""
    verdict = state.start(job_id, worker=worker_name(), max_attempts=max_attempts, node=node)
    if verdict is Start.skip:
        log.info("job %s was cancelled or finished before this run; skipped", job_id)
        return
    if verdict is Start.exhausted:
        message = f"its training worker died {max_attempts} times (killed or out of memory)"
        _record(state, job_id, JobStatus.failed, {"error": error(TrainingFailed.code, message)})
        return
    status, outcome = _outcome(state, job_id, request, store, timeout_seconds)
    _record(state, job_id, status, outcome)


def _outcome(
    state: JobState, job_id: str, request: AnyRequest, store: ModelStore, timeout_seconds: float
) -> tuple[JobStatus, dict[str, Any]]:
    from service.usecases.backtesting import refit_backtest
    from service.usecases.training import train_and_store
    from service.usecases.uploading import upload_and_store

    started = time.monotonic()
    origin: dict[str, int] = {}  # a refit backtest's position, added to its progress

    def timed_out() -> bool:
        return time.monotonic() - started > timeout_seconds

    def cancelled() -> bool:
        return _quietly(lambda: state.cancel_requested(job_id), False)

    def report(progress: Progress) -> None:
        _quietly(lambda: state.progress(job_id, {**asdict(progress), **origin}), None)

    context = TrainingContext(on_progress=report, should_cancel=lambda: timed_out() or cancelled())

    def on_origin(done: int, total: int) -> None:
        origin.update(origin=min(done + 1, total), origins=total)

    try:
        if isinstance(request, BacktestRequest):
            origin.update(origin=1, origins=request.origins)
            result = refit_backtest(request, store, context=context, on_origin=on_origin)
            if context.cancelled():
                raise TrainingRejected("backtest was cancelled")
            return JobStatus.succeeded, {"backtest": result.model_dump(mode="json")}
        if (card := _published(store, request, job_id)) is None:
            if isinstance(request, UploadRequest):  # loads in seconds: the time limit kills
                stored = upload_and_store(request, store, job_id=job_id)
            else:
                stored = train_and_store(request, store, context=context, job_id=job_id)
            card = stored.model_dump(mode="json")
    except ServiceError as failure:
        message = failure.message
        if timed_out():
            message = f"job exceeded its time limit of {timeout_seconds:g} s"
        if cancelled() and not timed_out():
            return JobStatus.cancelled, {"error": error(JobCancelled.code, message)}
        status = JobStatus.cancelled if cancelled() else JobStatus.failed
        return status, {"error": error(failure.code, message, failure.field)}
    return JobStatus.succeeded, {"card": card}


def _published(
    store: ModelStore, request: TrainRequest | UploadRequest, job_id: str
) -> dict[str, Any] | None:
    """The card of the version an earlier run of this job published (it died before it could
    say so): the job succeeded, and is not trained twice."""
    version = store.published_by(request.model_name, job_id)
    if version is None:
        return None
    log.info("job %s had published %s@%d already", job_id, request.model_name, version)
    return store.card(request.model_name, version).model_dump(mode="json")


def _record(state: JobState, job_id: str, status: JobStatus, outcome: dict[str, Any]) -> None:
    deadline = time.monotonic() + OUTCOME_PATIENCE_SECONDS
    delay = 0.5
    while True:
        try:
            state.finish(job_id, status, **outcome)
            return
        except BrokerUnavailable:
            if time.monotonic() > deadline:
                raise
            log.warning("job %s %s, but the job state does not answer; retrying", job_id, status)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def _quietly(call: Callable[[], T], default: T) -> T:
    """Progress and cancel checks while the job state is away: training goes on without them."""
    try:
        return call()
    except BrokerUnavailable:
        return default


# Worker processes


def enable_xla_cache(folder: Path) -> None:
    """Keep XLA's compiled training loops on disk: retraining a network of the same shape (the
    common case for a service) skips the compilation, about a second per training here.
    Must run before TensorFlow is imported."""
    folder.mkdir(parents=True, exist_ok=True)
    flag = f"--tf_xla_persistent_cache_directory={folder}"
    os.environ["TF_XLA_FLAGS"] = f"{os.environ.get('TF_XLA_FLAGS', '')} {flag}".strip()


def configure_tensorflow(threads: int, xla_cache: Path | None) -> None:
    """Import TensorFlow in this worker process, once, capped at `threads` threads so that
    serving on the same machine keeps a core while a model trains."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if xla_cache is not None:
        enable_xla_cache(xla_cache)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.config.experimental.enable_op_determinism()


def release_memory() -> None:
    """Give back what the last job left in this worker: the cycles not yet collected (the
    Keras models built to save the version) and the heap glibc keeps after a free
    (bench/worker_memory.py measures it). Compiled steps stay: they are the next training's
    head start; what they hold is bounded by replacing the worker (`retire_reason`)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def rss_mb() -> float:
    """This process' resident memory, in MB (0 where /proc is not there)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0.0
    line = next((x for x in status.splitlines() if x.startswith("VmRSS:")), "VmRSS: 0 kB")
    return int(line.split()[1]) / 1024


def retire_reason(*, jobs_run: int, max_jobs: int, max_memory_mb: int, retire_at: float) -> str:
    """Why this worker should be replaced before its next job, or "" if it need not."""
    if worn_out(retire_at):
        return "memory maps of compiled models"
    if jobs_run >= max_jobs:
        return f"{jobs_run} jobs run (FORECAST_WORKER_MAX_TRAININGS)"
    if (rss := rss_mb()) > max_memory_mb:
        return f"{rss:.0f} MB resident (FORECAST_WORKER_MAX_MEMORY_MB)"
    return ""


def worn_out(retire_at: float) -> bool:
    """Whether this worker process should be replaced. XLA keeps every executable it compiles,
    in memory maps, for the life of the process: about 170 maps per model trained, so a worker
    dies at the system's limit (vm.max_map_count, 65,530 by default) after some 380 trainings.
    Past `retire_at` of the limit (half: room for the job after), it asks to go."""
    try:
        limit = int(Path("/proc/sys/vm/max_map_count").read_text())
        with open("/proc/self/maps", "rb") as maps:
            used = sum(1 for _ in maps)
    except (OSError, ValueError):  # not Linux: no such limit to watch
        return False
    return used >= limit * retire_at
