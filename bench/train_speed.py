"""Training speed: the lecture's recipe against the service's defaults, same network, same run.

For each preset (lstm, gru, simple_rnn at the default units) and seed 0, 1, 2, on the lecture's
windowed sine task (train sin(x) for x in [0, 100), test x in [90, 200), step 0.5, window 20):

- recipe: plain `model.fit(X, y, batch_size=10, epochs=300)` with Adam(1e-3), as in the lecture
  (its generator replaced by the same windows as arrays);
- default: the service's training path (`service.forecasting.pipeline.train`) with no epochs,
  batch size or learning rate given.

The two alternate, so machine noise hits both. Seconds are fit time only (model built, data
windowed; TensorFlow already imported); the default's include tracing and XLA compilation.

The service keeps compiled training loops in an XLA disk cache (as its training workers do), so
the first training of a preset compiles ("cold") and later ones of the same shape do not ("warm").
The cache starts empty in every run; `--no-xla-cache` turns it off. `--generator` feeds the
recipe through a PyDataset that cuts batches of 10 windows in order, as the lecture's
TimeseriesGenerator did, instead of arrays (slower: Keras' per-batch Python overhead).

    .venv/bin/python bench/train_speed.py [--seeds 0 1 2] [--presets lstm gru simple_rnn]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.forecasting.data import Examples, series_examples
from service.forecasting.network import build_model
from service.forecasting.pipeline import train_series
from service.forecasting.spec import TrainSpec, WindowSpec
from service.jobs import enable_xla_cache

LectureBatches: type = object  # set in main(), once Keras may be imported


TRAIN, TEST = np.sin(np.arange(0, 100, 0.5)), np.sin(np.arange(90, 200, 0.5))


def lecture_data() -> tuple[Examples, Examples]:
    """The windows the recipe's model.fit sees (the service cuts its own from TRAIN, TEST)."""
    cut = {"window": WindowSpec(length=20), "target_columns": None, "stride": 1}
    return series_examples(TRAIN, **cut), series_examples(TEST, **cut)


def recipe(
    spec: TrainSpec, data: Examples, test: Examples, *, generator: bool
) -> tuple[float, float]:
    import keras

    keras.utils.set_random_seed(spec.seed)
    model = build_model(spec.resolved_layers(), timesteps=20, features=1, outputs=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    started = time.perf_counter()
    if generator:
        model.fit(LectureBatches(data), epochs=300, verbose=0)
    else:
        model.fit(data.inputs, data.targets, batch_size=10, epochs=300, verbose=0)
    seconds = time.perf_counter() - started
    predictions = model.predict(test.inputs, verbose=0)
    return seconds, float(np.mean((predictions - test.targets) ** 2))


def lecture_batches_class() -> type:
    import keras

    class LectureBatches(keras.utils.PyDataset):
        """Batches of 10 windows in order, as TimeseriesGenerator(batch_size=10) gave them."""

        def __init__(self, data: Examples) -> None:
            super().__init__()
            self.data = data

        def __len__(self) -> int:
            return -(-len(self.data) // 10)

        def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
            part = slice(10 * i, 10 * (i + 1))
            return self.data.inputs[part], self.data.targets[part]

    return LectureBatches


def default(spec: TrainSpec, data: Examples, test: Examples) -> tuple[float, float, int]:
    trained = train_series(spec, TRAIN, test_series=TEST)
    test_mse = trained.metrics["test_mse"]
    assert test_mse is not None
    return trained.fit.seconds, test_mse, trained.fit.epochs_run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--presets", nargs="+", default=["lstm", "gru", "simple_rnn"])
    parser.add_argument("--no-xla-cache", action="store_true")
    parser.add_argument("--generator", action="store_true")
    args = parser.parse_args()
    if not args.no_xla_cache:
        enable_xla_cache(Path(tempfile.mkdtemp(prefix="xla-cache-")))
    global LectureBatches
    LectureBatches = lecture_batches_class()
    seen: set[str] = set()
    data, test = lecture_data()
    rows = []
    for preset in args.presets:
        for seed in args.seeds:
            spec = TrainSpec(architecture=preset, seed=seed)
            # Alternate which goes first, so drift in machine load does not favour one side.
            if seed % 2 == 0:
                r_seconds, r_mse = recipe(spec, data, test, generator=args.generator)
                d_seconds, d_mse, epochs = default(spec, data, test)
            else:
                d_seconds, d_mse, epochs = default(spec, data, test)
                r_seconds, r_mse = recipe(spec, data, test, generator=args.generator)
            cache = "off" if args.no_xla_cache else "warm" if preset in seen else "cold"
            seen.add(preset)
            rows.append((preset, seed, r_seconds, r_mse, d_seconds, d_mse, epochs, cache))
            print(f"done: {preset} seed {seed}", file=sys.stderr, flush=True)
    report(rows, generator=args.generator)


def report(rows: list[tuple], *, generator: bool) -> None:
    source = "PyDataset batches of 10 in order" if generator else "arrays, batch 10"
    print(f"recipe: model.fit on {source}, 300 epochs, Adam 1e-3\n")
    print(
        "| preset | seed | recipe s | recipe test MSE | default s | default test MSE "
        "| default epochs | XLA cache | ratio default/recipe |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for preset, seed, r_s, r_mse, d_s, d_mse, epochs, cache in rows:
        flag = "" if d_mse <= 1e-05 else " (misses 1e-05)"
        print(
            f"| {preset} | {seed} | {r_s:.1f} | {r_mse:.2e} | {d_s:.2f} | {d_mse:.2e}{flag} "
            f"| {epochs} | {cache} | {d_s / r_s:.3f} |"
        )
    ratios = [row[4] / row[2] for row in rows]
    cold = [row[4] / row[2] for row in rows if row[7] != "warm"]
    print(
        f"\nmedian ratio default/recipe: {statistics.median(ratios):.3f} over all runs, "
        f"{statistics.median(cold):.3f} over runs that compiled (target <= 0.10); "
        f"worst default test MSE: {max(row[5] for row in rows):.2e} (target <= 1e-05)"
    )


if __name__ == "__main__":
    main()
