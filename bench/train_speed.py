"""Training speed as a user feels it: the wall time of POST /train against the lecture's recipe.

The service runs as its own process (`python -m service`, the embedded default: one API process
and one spawned training worker, TensorFlow capped at one thread as in production), on a fresh
store; the recipe runs in this process. For each preset (lstm, gru, simple_rnn at the default
units) and seed, in turns so that machine noise hits both:

- recipe: the lecture's plain `model.fit(X, y, batch_size=10, epochs=300)` with Adam(1e-3) on the
  windows of sin(x), x in [0, 100) step 0.5, window 20 (the same network the service builds);
- service: POST /train with the same series and `test_series` (x in [90, 200)) and only the
  architecture and seed in the spec: the wall time from request to answer, `train_seconds` (the
  fit) and the card's `timings` (measuring: metrics and interval calibration; saving: the
  .keras file, the ONNX and numpy exports and the card).

The worker is warmed first by one training of each preset, as a worker that has served before
would be (a training step is compiled once per shape for the life of the worker).

A second table times `architecture` and `transforms` "auto" on bench/accuracy.py's monthly
trend + season series (seed 0, 276 training points, season 12), with its holdout MSE; with
`--baseline DIR` (a checkout of an earlier commit in the same venv), the same requests go to that
commit's service too, alternating, for the before/after in one run.

    .venv/bin/python bench/train_speed.py [--seeds 0 1 2 3] [--presets lstm gru simple_rnn]
    git worktree add /tmp/before <commit>
    .venv/bin/python bench/train_speed.py --baseline /tmp/before [--auto-only]
"""

from __future__ import annotations

import argparse
import os
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
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.accuracy import trend_season  # noqa: E402

TRAIN, TEST = np.sin(np.arange(0, 100, 0.5)), np.sin(np.arange(90, 200, 0.5))


@contextmanager
def service(code: Path, name: str) -> Iterator[httpx.Client]:
    """The service of the checkout at `code`, on a free port and a fresh store."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = Path(tempfile.mkdtemp(prefix=f"train-speed-{name}-"))
    log = store.with_suffix(".log")
    env = {
        **os.environ,
        "PYTHONPATH": str(code),
        "FORECAST_STORE_ROOT": str(store),
        "FORECAST_MAX_QUEUED_JOBS": "64",
    }
    if code != ROOT:  # an earlier commit may know the store root by its old name only
        env["FORECAST_STORE_DIR"] = str(store)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "--port", str(port), "--log-level", "warning"],
            cwd=code, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=3600)
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if client.get("/ready/training").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the service did not become ready"
            time.sleep(0.5)
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=60)


def train(client: httpx.Client, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    answer = client.post("/train", json=body)
    seconds = time.perf_counter() - started
    assert answer.status_code == 201, answer.text
    return seconds, answer.json()


def lecture_body(preset: str, seed: int) -> dict[str, Any]:
    return {
        "model_name": f"{preset}-{seed}",
        "series": TRAIN.tolist(),
        "test_series": TEST.tolist(),
        "spec": {"architecture": preset, "seed": seed},
    }


def recipe(preset: str, seed: int) -> tuple[float, float]:
    """The lecture's model.fit on the windows as arrays; (seconds, test MSE)."""
    import keras

    from service.forecasting.data import series_examples
    from service.forecasting.network import build_model
    from service.forecasting.spec import TrainSpec, WindowSpec

    spec = TrainSpec(architecture=preset)
    window = WindowSpec(length=20)
    data = series_examples(TRAIN, window=window, target_columns=None, stride=1)
    test = series_examples(TEST, window=window, target_columns=None, stride=1)
    keras.utils.set_random_seed(seed)
    model = build_model(spec.resolved_layers(), timesteps=20, features=1, outputs=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    started = time.perf_counter()
    model.fit(data.inputs, data.targets, batch_size=10, epochs=300, verbose=0)
    seconds = time.perf_counter() - started
    predictions = model.predict(test.inputs, verbose=0)
    return seconds, float(np.mean((predictions - test.targets) ** 2))


def lecture_table(client: httpx.Client, presets: list[str], seeds: list[int]) -> list[float]:
    print("Lecture task: recipe (model.fit, batch 10, 300 epochs) against POST /train\n")
    header = [
        "preset", "seed", "recipe s", "recipe test MSE", "service wall s", "train_seconds",
        "measuring s", "saving s", "epochs", "service test MSE", "wall / recipe",
    ]  # fmt: skip
    print("| " + " | ".join(header) + " |\n|" + " --- |" * len(header))
    ratios, worst = [], 0.0
    for preset in presets:
        for seed in seeds:
            # Alternate which goes first, so drift in machine load favours neither.
            if seed % 2:
                wall, card = train(client, lecture_body(preset, seed))
                r_seconds, r_mse = recipe(preset, seed)
            else:
                r_seconds, r_mse = recipe(preset, seed)
                wall, card = train(client, lecture_body(preset, seed))
            mse, timings = card["metrics"]["test_mse"], card.get("timings", {})
            ratios.append(wall / r_seconds)
            worst = max(worst, mse)
            flag = "" if mse <= 1e-5 else " (misses 1e-05)"
            print(
                f"| {preset} | {seed} | {r_seconds:.1f} | {r_mse:.2e} | {wall:.2f} "
                f"| {card['train_seconds']:.2f} | {timings.get('measuring', 0):.2f} "
                f"| {timings.get('saving', 0):.2f} | {card['epochs_run']} | {mse:.2e}{flag} "
                f"| {wall / r_seconds:.3f} |",
                flush=True,
            )
    print(
        f"\nmedian wall / recipe {statistics.median(ratios):.3f} (target <= 0.05); worst "
        f"service test MSE {worst:.2e} (target <= 1e-05)\n"
    )
    return ratios


def auto_table(clients: dict[str, httpx.Client], rounds: int) -> None:
    values, season, _ = trend_season(0)
    train_part, holdout = values[:-24], values[-24:]
    body = {
        "model_name": "auto",
        "series": train_part.tolist(),
        "spec": {"architecture": "auto", "transforms": "auto", "season_length": season},
    }
    print("auto (architecture and transforms) on trend_season-s0 (276 points, m=12)\n")
    print("| service | round | wall s | train_seconds | holdout MSE (24 steps) |")
    print("| --- | --- | --- | --- | --- |")
    walls: dict[str, list[float]] = {name: [] for name in clients}
    for round_ in range(rounds):
        order = list(clients) if round_ % 2 == 0 else list(reversed(clients))
        for name in order:
            client = clients[name]
            wall, card = train(client, body)
            answer = client.post(
                "/forecast", json={"model_name": "auto", "series": body["series"], "horizon": 24}
            ).json()
            mse = float(np.mean((np.asarray(answer["forecast"]) - holdout) ** 2))
            walls[name].append(wall)
            print(
                f"| {name} | {round_ + 1} | {wall:.1f} | {card['train_seconds']:.1f} | {mse:.3f} |",
                flush=True,
            )
    # The first round is a fresh worker's (and a fresh store's XLA cache): it compiles each
    # candidate shape's training step once. Later rounds are a worker that has served before.
    first = ", ".join(f"{n} {w[0]:.1f} s" for n, w in walls.items())
    warm = ", ".join(f"{n} median {statistics.median(w[1:] or w):.1f} s" for n, w in walls.items())
    print(f"\nfirst auto on a fresh worker: {first}; after it: {warm} (target: at most 15 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--presets", nargs="+", default=["lstm", "gru", "simple_rnn"])
    parser.add_argument("--auto-rounds", type=int, default=3)
    parser.add_argument("--auto-only", action="store_true", help="skip the lecture table")
    parser.add_argument("--baseline", type=Path, help="a checkout of an earlier commit")
    args = parser.parse_args()
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    with service(ROOT, "now") as client:
        if not args.auto_only:
            for preset in args.presets:  # warm the worker: each preset's step compiled once
                train(client, lecture_body(preset, 99))
            lecture_table(client, args.presets, args.seeds)
        if args.baseline is None:
            auto_table({"this commit": client}, args.auto_rounds)
            return
        with service(args.baseline.resolve(), "before") as before:
            auto_table({"before": before, "this commit": client}, args.auto_rounds)


if __name__ == "__main__":
    main()
