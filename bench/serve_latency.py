"""Serving latency against FastAPI's own floor, idle and while a model trains.

Starts the real server (uvicorn, one API process, one training worker) on 127.0.0.1 with a fresh
store, trains the lecture's windowed LSTM(4), then sends a bounded load (N requests, C at a time)
for each scenario and prints p50, p99 and requests/s with ratios to the floor, all from one run:

- floor: `POST /bench/noop`, the same payload parsed and validated, no work (bench/serve_app.py);
- /forecast with 1 window, with the lecture's 180 test windows, and 20 points plus horizon 100;
- the same through a naive `model.predict` path (fewer requests: it is slow);
- the same from a version trained with `architecture` and `transforms` "auto" (an ensemble of ten
  networks, each with its own transforms), against the single LSTM's /forecast (fewer requests);
- /forecast with 1 window while a training job runs in the worker.

    .venv/bin/python bench/serve_latency.py [--requests 2000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecast_client import ForecastClient  # noqa: E402

TRAIN = np.sin(np.arange(0, 100, 0.5))
TEST = np.sin(np.arange(90, 200, 0.5))


def payloads(model_name: str = "sine", *, lag: int = 0) -> dict[str, dict[str, Any]]:
    """`lag`: rows a model's transforms use up before its first window (one for an ensemble
    with a differencing network), added so that every model gets the same windows."""
    base = {"model_name": model_name}
    return {
        "1 window": {**base, "series": TEST[: 21 + lag].tolist()},
        "180 windows": {**base, "series": TEST[: 200 + lag].tolist()},
        "horizon 100": {**base, "series": TEST[: 20 + lag].tolist(), "horizon": 100},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(store: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FORECAST_STORE_ROOT": store, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [
        sys.executable, "-m", "uvicorn", "bench.serve_app:create_bench_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "warning",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env)


async def load(
    url: str, body: dict[str, Any], *, requests: int, concurrency: int
) -> tuple[list[float], float]:
    """Latencies (seconds) of `requests` POSTs, `concurrency` in flight; and the wall time."""
    latencies: list[float] = []
    queue: asyncio.Queue[None] = asyncio.Queue()
    for _ in range(requests):
        queue.put_nowait(None)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(url, json=body)
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - started


def measure(base: str, path: str, body: dict[str, Any], *, requests: int, concurrency: int) -> dict:
    asyncio.run(load(base + path, body, requests=min(50, requests), concurrency=concurrency))
    latencies, wall = asyncio.run(
        load(base + path, body, requests=requests, concurrency=concurrency)
    )
    ordered = sorted(latencies)
    return {
        "n": len(ordered),
        "p50": statistics.median(ordered) * 1000,
        "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000,
        "rps": len(ordered) / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--predict-requests", type=int, default=100)
    args = parser.parse_args()
    n, c = args.requests, args.concurrency
    with tempfile.TemporaryDirectory() as store:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(store, port)
        try:
            client = ForecastClient(base, timeout=300)
            client.wait_ready(timeout=120)
            client.train("sine", series=TRAIN.tolist(), spec={"architecture": "lstm", "units": 4})
            auto = {"architecture": "auto", "transforms": "auto", "window": {"length": 20}}
            client.train("sine-auto", series=TRAIN.tolist(), spec=auto)
            rows = run_scenarios(base, client, n=n, c=c, predict_n=args.predict_requests)
        finally:
            server.terminate()
            server.wait(timeout=60)
    print_table(rows, n=n, c=c)


def rows_used(client: Any, name: str) -> int:
    """Rows the version's transforms use up before a first window (its largest network's)."""
    from service.forecasting.transforms import lag
    from service.store.card import ModelCard

    card = ModelCard.model_validate(client.model(name)["versions"][-1]["card"])
    return max(lag(prep.transforms) for prep in card.preprocessings)


def run_scenarios(base: str, client: Any, *, n: int, c: int, predict_n: int) -> list[tuple]:
    rows = []
    for label, body in payloads().items():
        floor = measure(base, "/bench/noop", body, requests=n, concurrency=c)
        rows.append((f"floor (no-op), {label}", floor, floor))
        rows.append(
            (
                f"/forecast, {label}",
                measure(base, "/forecast", body, requests=n, concurrency=c),
                floor,
            )
        )
        # A horizon costs one `predict` per step (~0.2 s each under load): fewer requests.
        count = predict_n if "horizon" not in body else max(c, predict_n // 5)
        rows.append(
            (
                f"model.predict path, {label}",
                measure(base, "/bench/predict", body, requests=count, concurrency=c),
                floor,
            )
        )
        single = rows[-2][1]
        ensemble = payloads("sine-auto", lag=rows_used(client, "sine-auto"))[label]
        rows.append(
            (
                f"/forecast, {label}, auto ensemble of 10",
                measure(base, "/forecast", ensemble, requests=max(c, n // 5), concurrency=c),
                single,
            )
        )
        print(f"done: {label}", file=sys.stderr, flush=True)
    body = payloads()["1 window"]
    idle = next(r[1] for r in rows if r[0] == "/forecast, 1 window")
    job = client.train_async(
        "busy", series=TRAIN.tolist(), spec={"epochs": 20_000, "batch_size": 10, "max_seconds": 600}
    )
    while client.job(job)["status"] != "running":
        time.sleep(0.1)
    time.sleep(1.0)  # past tracing, into the training loop
    busy = measure(base, "/forecast", body, requests=n, concurrency=c)
    still = client.job(job)["status"]
    client.cancel(job)
    rows.append((f"/forecast, 1 window, while training (job {still})", busy, idle))
    return rows


def print_table(rows: list[tuple], *, n: int, c: int) -> None:
    print(f"{n} requests per scenario ({c} in flight), one uvicorn process, 127.0.0.1\n")
    print("| scenario | requests | p50 ms | p99 ms | req/s | p50 / ref | p99 / ref |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, m, ref in rows:
        print(
            f"| {label} | {m['n']} | {m['p50']:.2f} | {m['p99']:.2f} | {m['rps']:.0f} "
            f"| {m['p50'] / ref['p50']:.2f} | {m['p99'] / ref['p99']:.2f} |"
        )
    print(
        "\nref: the no-op floor with the same payload; for the auto ensemble, the single LSTM's"
        " /forecast; for the training row, idle /forecast."
    )


if __name__ == "__main__":
    main()
