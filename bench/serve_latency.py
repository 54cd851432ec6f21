"""Serving latency under wrk, against a bare FastAPI app in its own uvicorn process.

Starts two servers from this venv on 127.0.0.1: the service (one API process, one training
worker, a fresh store) and the floor (bench/floor_app.py: no middleware, no model). Trains the
lecture's windowed sine models (each preset, and an `auto` ensemble), then measures every row
with wrk (one thread, `--connections` in flight, `--seconds` each), the row and its reference
back to back, all rows `--rounds` times over, and prints medians of p50, p99 and req/s with the
ratios to the reference measured in the same round.

References: `GET /health` against the floor's trivial GET; one window (as `inputs` or as
`series`) and a horizon request against the floor parsing the same body into a pydantic model;
180 windows against the floor's `json.loads` + `np.asarray`; the `auto` ensemble and each preset
against the single LSTM with the same body; one window while a model trains against idle.

    .venv/bin/python bench/serve_latency.py [--seconds 4] [--rounds 3] [--connections 8]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecast_client import ForecastClient, RequestFailed  # noqa: E402

TRAIN = np.sin(np.arange(0, 100, 0.5))
TEST = np.sin(np.arange(90, 200, 0.5))
PRESETS = ("lstm", "gru", "simple_rnn", "dense")
AUTO = {"architecture": "auto", "transforms": "auto", "window": {"length": 20}}


def bodies(model: str, *, lag: int = 0) -> dict[str, dict[str, Any]]:
    """`lag`: rows a model's transforms use up before its first window, so that every model
    gets the same windows."""
    rows = np.arange(180)[:, None] + np.arange(20)[None, :]
    return {
        "1 window as inputs": {"model_name": model, "inputs": TEST[:20].reshape(1, 20, 1).tolist()},
        "1 window as series": {"model_name": model, "series": TEST[: 21 + lag].tolist()},
        "180 windows as inputs": {"model_name": model, "inputs": TEST[rows][..., None].tolist()},
        "180 windows as series": {"model_name": model, "series": TEST[: 200 + lag].tolist()},
        "horizon 100": {"model_name": model, "series": TEST[: 20 + lag].tolist(), "horizon": 100},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(app: str, env: dict[str, str], *, factory: bool) -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning", "--no-access-log", *(["--factory"] if factory else []),
    ]  # fmt: skip
    # Its logs stay on (their cost is part of the answer), written where nobody reads them.
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **env}, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{app} did not start")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=60)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    # Debian's wrk; the bench runs as a user who may install packages (as in CI's image).
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


class Wrk:
    def __init__(self, folder: Path, *, seconds: int, connections: int) -> None:
        self.wrk, self.folder = ensure_wrk(), folder
        self.seconds, self.connections = seconds, connections
        self._scripts: dict[str, Path] = {}

    def script(self, body: dict[str, Any] | None) -> list[str]:
        if body is None:
            return []
        text = json.dumps(body)
        if text not in self._scripts:
            n = len(self._scripts)
            data, lua = self.folder / f"body{n}.json", self.folder / f"body{n}.lua"
            data.write_text(text)
            lua.write_text(
                'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                f'local f = io.open("{data}")\nwrk.body = f:read("*a")\nf:close()\n'
            )
            self._scripts[text] = lua
        return ["-s", str(self._scripts[text])]

    def run(self, url: str, body: dict[str, Any] | None) -> dict[str, float]:
        command = [
            self.wrk, "-t1", f"-c{self.connections}", f"-d{self.seconds}s", "--latency",
            *self.script(body), url,
        ]  # fmt: skip
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        if "Non-2xx" in out:
            answer = (
                httpx.post(url, json=body, timeout=120) if body else httpx.get(url, timeout=120)
            )
            raise RuntimeError(f"{url} answered {answer.status_code} {answer.text[:300]}")
        return {
            "p50": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)),
            "p99": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)),
            "rps": float(re.search(r"Requests/sec:\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        }


def _ms(match: re.Match[str] | None) -> float:
    assert match is not None
    value = match.group(1)
    for unit, factor in (("us", 1e-3), ("ms", 1.0), ("s", 1e3), ("m", 6e4)):
        if value.endswith(unit):
            return float(value[: -len(unit)]) * factor
    return float(value)


Row = tuple[str, str, dict[str, Any] | None, str, str, dict[str, Any] | None]


def rows(service: str, floor: str) -> list[Row]:
    """(label, url, body, reference label, reference url, reference body)."""
    single = bodies("sine-lstm")
    out: list[Row] = [
        ("GET /health", service + "/health", None, "floor GET", floor + "/health", None)
    ]
    for label in ("1 window as inputs", "1 window as series", "horizon 100"):
        body = single[label]
        out.append((label, service + "/forecast", body, "floor pydantic", floor + "/parsed", body))
    body = single["180 windows as inputs"]
    out.append(
        (
            "180 windows as inputs",
            service + "/forecast",
            body,
            "floor json+numpy",
            floor + "/raw",
            body,
        )
    )
    auto = bodies("sine-auto", lag=_lag(service, "sine-auto"))
    for label in ("1 window as series", "180 windows as series", "horizon 100"):
        out.append(
            (f"auto ensemble, {label}", service + "/forecast", auto[label], "single LSTM",
             service + "/forecast", single[label])
        )  # fmt: skip
    for preset in PRESETS[1:]:
        for label in ("1 window as inputs", "180 windows as inputs"):
            out.append(
                (f"{preset}, {label}", service + "/forecast", bodies(f"sine-{preset}")[label],
                 "LSTM", service + "/forecast", single[label])
            )  # fmt: skip
    return out


def _lag(service: str, model: str) -> int:
    """Rows the model's transforms use up: the shortest series that gives it one window."""
    for lag in range(200):
        body = {"model_name": model, "series": TEST[: 20 + lag].tolist()}
        if httpx.post(service + "/forecast", json=body, timeout=120).status_code == 200:
            return lag
    raise RuntimeError(f"{model} takes no series of the bench")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = {"FORECAST_STORE_ROOT": folder + "/store", "TF_CPP_MIN_LOG_LEVEL": "3"}
        service_app, floor_app = "service.main:create_app", "bench.floor_app:app"
        with (
            server(service_app, env, factory=True) as service,
            server(floor_app, {}, factory=False) as floor,
        ):
            client = ForecastClient(service, timeout=600)
            for preset in PRESETS:
                spec = {"architecture": preset, "units": 4}
                client.train(f"sine-{preset}", series=TRAIN.tolist(), spec=spec)
            client.train("sine-auto", series=TRAIN.tolist(), spec=AUTO)
            wrk = Wrk(Path(folder), seconds=args.seconds, connections=args.connections)
            table = measure(wrk, rows(service, floor), rounds=args.rounds)
            table.append(while_training(wrk, client, service, rounds=args.rounds))
    print_table(table, args)


def measure(wrk: Wrk, plan: list[Row], *, rounds: int) -> list[tuple[str, str, list, list]]:
    results: dict[str, tuple[str, list, list]] = {}
    for _ in range(rounds):
        for label, url, body, ref_label, ref_url, ref_body in plan:
            row, ref = wrk.run(url, body), wrk.run(ref_url, ref_body)
            results.setdefault(label, (ref_label, [], []))
            results[label][1].append(row)
            results[label][2].append(ref)
        print(f"round {_ + 1} of {rounds} done", file=sys.stderr, flush=True)
    return [(label, ref, a, b) for label, (ref, a, b) in results.items()]


def while_training(wrk: Wrk, client: ForecastClient, service: str, *, rounds: int) -> tuple:
    body = bodies("sine-lstm")["1 window as series"]
    spec = {"epochs": 20_000, "batch_size": 10, "max_seconds": 900}
    job = client.train_async("busy", series=TRAIN.tolist(), spec=spec)
    while client.job(job)["status"] != "running":
        time.sleep(0.1)
    time.sleep(2.0)  # past tracing, into the training loop
    busy, idle = [], []
    for _ in range(rounds):
        busy.append(wrk.run(service + "/forecast", body))
    status = client.job(job)["status"]
    client.cancel(job)
    with contextlib.suppress(RequestFailed):  # what waiting on a cancelled job answers
        client.wait(job, timeout=120)
    for _ in range(rounds):
        idle.append(wrk.run(service + "/forecast", body))
    return (f"1 window as series, while training (job {status})", "idle", busy, idle)


def print_table(table: list[tuple[str, str, list, list]], args: argparse.Namespace) -> None:
    print(
        f"wrk -t1 -c{args.connections} -d{args.seconds}s, {args.rounds} rounds alternated "
        "(row, then its reference); medians over rounds, ratios per round then median\n"
    )
    print("| request | reference | p50 ms | p99 ms | req/s | ref p50 ms | p50 / ref | p99 / ref |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, ref_label, row, ref in table:
        print(
            f"| {label} | {ref_label} | {_median(row, 'p50'):.2f} | {_median(row, 'p99'):.2f} "
            f"| {_median(row, 'rps'):.0f} | {_median(ref, 'p50'):.2f} "
            f"| {_ratio(row, ref, 'p50'):.2f} | {_ratio(row, ref, 'p99'):.2f} |"
        )


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _ratio(row: list[dict[str, float]], ref: list[dict[str, float]], key: str) -> float:
    """The median of the ratios measured round by round (each pair back to back)."""
    return statistics.median(a[key] / b[key] for a, b in zip(row, ref, strict=True))


if __name__ == "__main__":
    main()
