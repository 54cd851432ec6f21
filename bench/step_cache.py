"""What a training worker's cache of compiled training steps costs in memory.

A worker keeps every training step it compiled (forecasting/training.py, `STEPS`, at most 32)
so that a later training of the same shape skips tracing and compiling. This trains the
lecture's LSTM on windows of sin(x) with a different window length each time (so each training
compiles a new step), past the cap, and prints the process' resident memory after each, beside
the time of a second training of the same shape (a reused step). One process, one thread, as a
worker runs.

    .venv/bin/python bench/step_cache.py [--shapes 40] [--architecture lstm]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def rss_mb() -> float:
    """Resident set size of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def maps() -> int:
    """Memory maps of this process (XLA keeps one set per executable it compiled)."""
    with open("/proc/self/maps", "rb") as lines:
        return sum(1 for _ in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, default=40, help="distinct window lengths")
    parser.add_argument("--architecture", default="lstm")
    parser.add_argument("--epochs", type=int, default=200)
    args = parser.parse_args()

    from service.forecasting.pipeline import train_series
    from service.forecasting.spec import TrainSpec
    from service.forecasting.training import STEPS
    from service.jobs.runner import configure_tensorflow

    configure_tensorflow(1, None)
    series = np.sin(np.arange(0, 100, 0.5))
    start = rss_mb()
    print(f"RSS after importing TensorFlow: {start:.0f} MB; cache capacity {STEPS.capacity}\n")
    print("| shapes | kept steps | RSS MB | +MB since start | maps | first training s | again s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for shape in range(args.shapes):
        spec = TrainSpec.model_validate({
            "architecture": args.architecture, "units": 4, "epochs": args.epochs,
            "window": {"length": 5 + shape}, "seed": shape,
        })  # fmt: skip
        times = []
        for _ in range(2):
            began = time.perf_counter()
            train_series(spec, series)
            times.append(time.perf_counter() - began)
        rss = rss_mb()
        print(
            f"| {shape + 1} | {len(STEPS)} | {rss:.0f} | {rss - start:.0f} | {maps()} "
            f"| {times[0]:.2f} | {times[1]:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
