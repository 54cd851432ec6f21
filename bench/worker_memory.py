"""A training worker's memory over many trainings: RSS after each job, as the worker runs it.

One spawned process plays the worker (TensorFlow configured as in production, one thread); it
runs `--trainings` small jobs through `run_job` (the same path as the local pool and Celery)
against a fresh store, each a small network (GRU, LSTM or SimpleRNN of 4 to 16 units, windows
of 6 to 18: 27 shapes in turn) on a 96-point monthly series with early stopping, and prints
its RSS. With `--no-release` it skips what a worker does after each job
(runner.release_memory: Keras' session cleared, garbage collected, freed heap returned to the
system), for the before/after in one script. The curve is printed every `--every` jobs.

    .venv/bin/python bench/worker_memory.py [--trainings 100] [--no-release] [--every 10]
    .venv/bin/python bench/worker_memory.py --pool [--max-trainings 50] [--max-memory-mb 2048]

With `--pool` the jobs go through the local backend's pool instead (LocalJobs, as the service
runs them), with its recycling: the RSS printed is the worker's that ran each job, read from
/proc just after it, and a new pid shows a replaced worker.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def monthly(n: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 2, n)
    return [round(float(v), 3) for v in values]


# A new network shape every job for the first 27 (XLA compiles each shape), then repeats.
ARCHITECTURES = ("gru", "lstm", "simple_rnn")


def worker(trainings: int, release: bool, every: int, out: multiprocessing.Queue[str]) -> None:
    from service.jobs import runner
    from service.jobs.record import Job
    from service.jobs.sqlite_state import SqliteJobState
    from service.schemas.train import TrainRequest
    from service.store.local import ModelStore

    runner.configure_tensorflow(1, None)
    root = Path(tempfile.mkdtemp(prefix="worker-memory-"))
    store = ModelStore(root / "store")
    store.open()
    state = SqliteJobState(root / "jobs.sqlite3")
    out.put(f"start: {rss_mb():.0f} MB (TensorFlow imported)")
    started = time.monotonic()
    for i in range(1, trainings + 1):
        request = TrainRequest.model_validate(request_body(i))
        job = Job(f"job{i}", request.model_name)
        state.add(job)
        runner.run_job(state, job.id, request, store, timeout_seconds=600)
        if release:
            runner.release_memory()
        if i == 1 or i % every == 0:
            seconds = time.monotonic() - started
            done = state.get(job.id)
            card = done.card or {}
            last = f"{done.status.value}, {card.get('epochs_run')} epochs"
            out.put(f"{i:4d} trainings: {rss_mb():7.0f} MB  ({seconds:6.0f} s; last {last})")
    out.put("done")


def request_body(i: int) -> dict[str, object]:
    series = monthly(120, seed=i)
    spec = {
        "architecture": ARCHITECTURES[i % 3],
        "units": (4, 8, 16)[i // 3 % 3],
        "window": {"length": (6, 12, 18)[i // 9 % 3]},
        "seed": i,
        "max_seconds": 20,
    }
    name = f"m{i % 5}"
    return {"model_name": name, "series": series[:96], "test_series": series[72:], "spec": spec}


def process_rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def through_pool(trainings: int, every: int, max_jobs: int, max_memory_mb: int) -> None:
    from service.jobs.local import LocalJobs
    from service.jobs.status import FINISHED
    from service.schemas.train import TrainRequest

    root = Path(tempfile.mkdtemp(prefix="worker-memory-")) / "store"
    manager = LocalJobs(root, max_jobs=max_jobs, max_memory_mb=max_memory_mb)
    manager.start()
    print(f"local pool: a worker is replaced after {max_jobs} jobs or {max_memory_mb} MB")
    started = time.monotonic()
    try:
        for i in range(1, trainings + 1):
            job = manager.submit(TrainRequest.model_validate(request_body(i)))
            while (job := manager.get(job.id)).status not in FINISHED:
                time.sleep(0.05)
            rss = process_rss_mb(job.worker_pid or 0)
            if i == 1 or i % every == 0 or i % max_jobs in (0, 1):
                shown = f"{rss:7.0f} MB" if rss is not None else "retired"
                seconds = time.monotonic() - started
                print(f"{i:4d} trainings: {shown}  (worker {job.worker_pid}, {seconds:6.0f} s)")
    finally:
        manager.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainings", type=int, default=100)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--no-release", action="store_true")
    parser.add_argument("--pool", action="store_true")
    parser.add_argument("--max-trainings", type=int, default=50)
    parser.add_argument("--max-memory-mb", type=int, default=2048)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.pool:
        through_pool(args.trainings, args.every, args.max_trainings, args.max_memory_mb)
        return
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[str] = context.Queue()
    release = not args.no_release
    process = context.Process(target=worker, args=(args.trainings, release, args.every, out))
    process.start()
    print(f"worker RSS, release after each job: {'yes' if release else 'no'}", flush=True)
    while (line := out.get()) != "done":
        print(line, flush=True)
    process.join()


if __name__ == "__main__":
    main()
