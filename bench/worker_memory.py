"""A training worker's memory over many trainings: RSS after each job, as the worker runs it.

One spawned process plays the worker (TensorFlow configured as in production, one thread); it
runs `--trainings` small jobs through `run_job` (the same path as the local pool and Celery)
against a fresh store, each a small network (GRU, LSTM or SimpleRNN of 4 to 16 units, windows
of 6 to 18: 27 shapes in turn) on a 96-point monthly series with early stopping, and prints
its RSS. With `--no-release` it skips what a worker does after each job
(runner.release_memory: Keras' session cleared, garbage collected, freed heap returned to the
system), for the before/after in one script. The curve is printed every `--every` jobs.

    .venv/bin/python bench/worker_memory.py [--trainings 100] [--no-release] [--every 10]
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
        series = monthly(120, seed=i)
        request = TrainRequest.model_validate(
            {
                "model_name": f"m{i % 5}",
                "series": series[:96],
                "test_series": series[72:],
                "spec": {
                    "architecture": ARCHITECTURES[i % 3],
                    "units": (4, 8, 16)[i // 3 % 3],
                    "window": {"length": (6, 12, 18)[i // 9 % 3]},
                    "seed": i,
                    "max_seconds": 20,
                },
            }
        )
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainings", type=int, default=100)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--no-release", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
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
