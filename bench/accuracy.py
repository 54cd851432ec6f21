"""Forecast accuracy of the service against simple baselines and ETS, on synthetic and real series.

For every series the last H points are held out, everything is fitted on the rest, and the holdout
MSE of an H-step forecast from the end of the training part is reported:

- naive: the last training value repeated;
- seasonal naive: the last season repeated (series with a known season length only);
- drift: the line through the first and the last training point, extended;
- ETS: statsmodels' Holt-Winters `ExponentialSmoothing`, additive damped trend, seasonal component
  additive or multiplicative as suits the series (none without a season length). A `*` marks a fit
  that statsmodels reported as not converged;
- the service, through its HTTP API in-process: POST /train on the training part with each
  configuration of `CONFIGS`, then POST /forecast with the training part and `horizon` = H (the
  recursive forecast, each prediction fed back as input).

H is 24 for series with a season length (monthly and quarterly ones), 20 otherwise, and 40 for the
lecture's sine (its test part: the 40 points after x in [0, 100)). "service / best" divides a
service configuration's MSE by the best of naive, seasonal naive and drift (ETS is not counted as a
baseline there): below 1 the network beats every simple baseline.

For the lecture's sine the one-step MSE (the lecture's measure: windowed one-step predictions over
the test series, each window of actual values) is reported too, on the 40 held-out points and on
the lecture's own test series sin(x), x in [90, 200).

Everything is seeded: the generators (numpy `default_rng(seed)`), the service (spec `seed`,
default 0, gives the same model for the same data) and ETS (a deterministic optimiser). Real series
come from the datasets statsmodels ships, so no network is needed.

    .venv/bin/python bench/accuracy.py                    # every series, the default configuration
    .venv/bin/python bench/accuracy.py --quick            # one seed per generator
    .venv/bin/python bench/accuracy.py --series co2 ar2   # a subset (generator or series names)
    .venv/bin/python bench/accuracy.py --transforms       # also the transform configurations
    .venv/bin/python bench/accuracy.py --auto             # also architecture/transforms "auto"

A configuration the service does not know yet (422 on an unknown field or value) is printed as
"n/a (service lacks <field>)"; one that does not apply to a series (a seasonal transform on a
series with no season, a log on a series with values <= 0) as "-".
"""

from __future__ import annotations

import argparse
import copy
import math
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Service configurations. `spec` is sent as the /train spec; the placeholder SEASON is replaced by
# the series' season length (a configuration using it is skipped on a series without one). Unless
# the spec sets `window` (or `add_window` is False), `window: {length: L}` is added, with
# L = 2 * season_length, or 20 for a series with no season. `positive`: the configuration needs
# values > 0 (a log transform).
SEASON = "<season_length>"

LOG = {"type": "log"}
DIFF = {"type": "difference", "order": 1}
SEASONAL_DIFF = {"type": "seasonal_difference", "season_length": SEASON}

CONFIGS: list[dict[str, Any]] = [
    {"name": "default", "spec": {}},
]

# Spec fields the service is gaining (transforms, window_normalization, season_length): sent with
# --transforms.
TRANSFORM_CONFIGS: list[dict[str, Any]] = [
    {"name": "diff", "spec": {"transforms": [DIFF]}},
    {"name": "log+diff", "spec": {"transforms": [LOG, DIFF]}, "positive": True},
    {"name": "sdiff", "spec": {"transforms": [SEASONAL_DIFF]}},
    {"name": "diff+sdiff", "spec": {"transforms": [DIFF, SEASONAL_DIFF]}},
    {
        "name": "log+diff+sdiff",
        "spec": {"transforms": [LOG, DIFF, SEASONAL_DIFF]},
        "positive": True,
    },
    # The default before windows relative to their last value were: plain levels, no early stop.
    {"name": "levels", "spec": {"window_normalization": "none", "validation_fraction": 0}},
    {"name": "season", "spec": {"season_length": SEASON}},
]

# The service choosing for itself: sent with --auto. The window is left to it as well.
AUTO_CONFIGS: list[dict[str, Any]] = [
    {"name": "auto", "spec": {"architecture": "auto", "transforms": "auto"}, "add_window": False},
]

SEEDS = (0, 1, 2)  # one synthetic series per generator and seed; --quick keeps the first
SINE_TEST_POINTS = 40


# Synthetic series: each returns (values, season_length or None).


def trend_season(seed: int, n: int = 300) -> tuple[np.ndarray, int | None]:
    """(a) Linear trend + additive season (period 12) + gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    season = 2.0 * np.sin(2 * np.pi * t / 12) + 0.8 * np.cos(4 * np.pi * t / 12)
    return 10 + 0.05 * t + season + rng.normal(0, 0.5, n), 12


def mult_season(seed: int, n: int = 300) -> tuple[np.ndarray, int | None]:
    """(b) Exponential growth times a season of period 12 (amplitude grows with the level), with
    multiplicative noise: positive values, like airline passengers."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    level = 100 * np.exp(0.006 * t)
    season = 1 + 0.2 * np.sin(2 * np.pi * t / 12) + 0.1 * np.sin(4 * np.pi * t / 12 + 1)
    return level * season * np.exp(rng.normal(0, 0.03, n)), 12


def random_walk(seed: int, n: int = 300) -> tuple[np.ndarray, int | None]:
    """(c) Gaussian random walk from 0."""
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(0, 1, n)), None


def ar2(
    seed: int, n: int = 300, phi: tuple[float, float] = (0.6, -0.3)
) -> tuple[np.ndarray, int | None]:
    """(d) Stationary AR(2): x_t = 0.6 x_{t-1} - 0.3 x_{t-2} + e_t, after a burn-in of 200."""
    rng = np.random.default_rng(seed)
    burn = 200
    e = rng.normal(0, 1, n + burn)
    x = np.zeros(n + burn)
    for t in range(2, n + burn):
        x[t] = phi[0] * x[t - 1] + phi[1] * x[t - 2] + e[t]
    return x[burn:], None


def sine(seed: int = 0) -> tuple[np.ndarray, int | None]:
    """(e) The lecture's sin(x), x in [0, 100) step 0.5 (training), then the next 40 points (test).
    Its period, 4*pi steps, is no whole number: no season length. `seed` is unused."""
    return np.sin(np.arange(0, 100 + SINE_TEST_POINTS * 0.5, 0.5)), None


GENERATORS: dict[str, Callable[[int], tuple[np.ndarray, int | None]]] = {
    "trend_season": trend_season,
    "mult_season": mult_season,
    "random_walk": random_walk,
    "ar2": ar2,
}


# Real series shipped with statsmodels: each returns (values, season_length, how it was made).


def load_co2() -> tuple[np.ndarray, int | None, str]:
    from statsmodels.datasets import co2

    weekly = co2.load_pandas().data["co2"]
    monthly = weekly.resample("MS").mean()
    gaps = int(monthly.isna().sum())
    monthly = monthly.interpolate("linear")
    how = (
        f"statsmodels.datasets.co2: Mauna Loa weekly CO2 {weekly.index[0]:%Y-%m} to "
        f"{weekly.index[-1]:%Y-%m}, monthly means, {gaps} empty months interpolated linearly"
    )
    return monthly.to_numpy(dtype=float), 12, how


def load_sunspots() -> tuple[np.ndarray, int | None, str]:
    from statsmodels.datasets import sunspots

    data = sunspots.load_pandas().data
    how = (
        f"statsmodels.datasets.sunspots: yearly sunspot numbers {int(data['YEAR'].iloc[0])}-"
        f"{int(data['YEAR'].iloc[-1])}; the ~11-year cycle is irregular, so no season length"
    )
    return data["SUNACTIVITY"].to_numpy(dtype=float), None, how


def load_realgdp() -> tuple[np.ndarray, int | None, str]:
    from statsmodels.datasets import macrodata

    data = macrodata.load_pandas().data
    how = (
        f"statsmodels.datasets.macrodata: US real GDP, quarterly {int(data['year'].iloc[0])}Q1-"
        f"{int(data['year'].iloc[-1])}Q{int(data['quarter'].iloc[-1])} (seasonally adjusted "
        "already; season length 4 given anyway)"
    )
    return data["realgdp"].to_numpy(dtype=float), 4, how


REAL: dict[str, Callable[[], tuple[np.ndarray, int | None, str]]] = {
    "co2": load_co2,
    "sunspots": load_sunspots,
    "realgdp": load_realgdp,
}


@dataclass(frozen=True)
class Series:
    name: str
    family: str
    values: np.ndarray
    season_length: int | None
    horizon: int
    ets_seasonal: str | None  # "add", "mul" or None

    @property
    def train(self) -> np.ndarray:
        return self.values[: -self.horizon]

    @property
    def holdout(self) -> np.ndarray:
        return self.values[-self.horizon :]

    @property
    def label(self) -> str:
        m = self.season_length or "-"
        return f"{self.name} (n={len(self.train)}, H={self.horizon}, m={m})"


def holdout_length(season_length: int | None) -> int:
    return 24 if season_length else 20


def ets_kind(values: np.ndarray, season_length: int | None, multiplicative: bool) -> str | None:
    if season_length is None:
        return None
    return "mul" if multiplicative and bool(np.all(values > 0)) else "add"


def build_series(quick: bool, wanted: set[str] | None) -> tuple[list[Series], list[str]]:
    """The series to run, and one line per real series on how it loaded (or why it did not)."""

    def selected(*names: str) -> bool:
        return wanted is None or any(name in wanted for name in names)

    series: list[Series] = []
    seeds = SEEDS[:1] if quick else SEEDS
    for gen_name, generate in GENERATORS.items():
        for seed in seeds:
            name = f"{gen_name}-s{seed}"
            if not selected(gen_name, name):
                continue
            values, m = generate(seed)
            kind = ets_kind(values, m, multiplicative=gen_name == "mult_season")
            series.append(Series(name, "synthetic", values, m, holdout_length(m), kind))
    if selected("sine"):
        values, m = sine()
        series.append(Series("sine", "lecture sine", values, m, SINE_TEST_POINTS, None))
    notes = []
    for real_name, load in REAL.items():
        if not selected(real_name):
            continue
        try:
            values, m, how = load()
        except Exception as error:  # a dataset that does not load is reported, not fatal
            notes.append(f"- {real_name}: NOT loaded ({type(error).__name__}: {error})")
            continue
        notes.append(f"- {real_name}: {len(values)} points, {how}")
        kind = ets_kind(values, m, multiplicative=False)
        series.append(Series(real_name, "real (statsmodels)", values, m, holdout_length(m), kind))
    return series, notes


# Baselines


def mse(actual: np.ndarray, predicted: Iterable[float]) -> float:
    predicted = np.asarray(list(predicted), dtype=float)
    return float(np.mean((np.asarray(actual, dtype=float) - predicted) ** 2))


def naive(train: np.ndarray, h: int) -> np.ndarray:
    return np.full(h, train[-1])


def seasonal_naive(train: np.ndarray, h: int, m: int) -> np.ndarray:
    return np.resize(train[-m:], h)  # repeats the last season as many times as needed


def drift(train: np.ndarray, h: int) -> np.ndarray:
    slope = (train[-1] - train[0]) / (len(train) - 1)
    return train[-1] + slope * np.arange(1, h + 1)


@dataclass
class EtsOutcome:
    mse: float | None
    text: str


def ets(series: Series) -> EtsOutcome:
    try:
        from statsmodels.tools.sm_exceptions import ConvergenceWarning
        from statsmodels.tsa.holtwinters import ExponentialSmoothing
    except ImportError:
        return EtsOutcome(None, "n/a (no statsmodels)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = ExponentialSmoothing(
            series.train,
            trend="add",
            damped_trend=True,
            seasonal=series.ets_seasonal,
            seasonal_periods=series.season_length if series.ets_seasonal else None,
            initialization_method="estimated",
        )
        forecast = model.fit(optimized=True).forecast(series.horizon)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    error = mse(series.holdout, forecast)
    return EtsOutcome(error, fmt(error) + ("" if converged else "*"))


# The service


@dataclass
class Cell:
    mse: float | None = None
    text: str = "-"
    seconds: float | None = None
    epochs: int | None = None
    one_step: float | None = None  # sine only: on the 40 held-out points
    lecture_test: float | None = None  # sine only: on the lecture's test series


def uses_season(value: Any) -> bool:
    if isinstance(value, dict):
        return any(uses_season(v) for v in value.values())
    if isinstance(value, list):
        return any(uses_season(v) for v in value)
    return value == SEASON


def substitute(value: Any, season_length: int | None) -> Any:
    if isinstance(value, dict):
        return {k: substitute(v, season_length) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, season_length) for v in value]
    return season_length if value == SEASON else value


def window_length(series: Series) -> int:
    return 2 * series.season_length if series.season_length else 20


def build_spec(config: dict[str, Any], series: Series) -> dict[str, Any] | None:
    """The spec for this series, or None when the configuration does not apply to it."""
    if uses_season(config["spec"]) and series.season_length is None:
        return None
    if config.get("positive") and not bool(np.all(series.train > 0)):
        return None
    spec = substitute(copy.deepcopy(config["spec"]), series.season_length)
    if config.get("add_window", True):
        spec.setdefault("window", {"length": window_length(series)})
    return spec


def lookup(spec: Any, path: list[Any]) -> Any:
    for key in path:
        try:
            spec = spec[int(key) if isinstance(spec, list) else key]
        except (KeyError, IndexError, TypeError, ValueError):
            return None
    return spec


def unavailable(detail: Any, spec: dict[str, Any]) -> str:
    """The text of a cell whose request got a 422: the spec fields (or values) the service lacks,
    if that is the reason, else the message."""
    lacking, messages = [], []
    for error in detail if isinstance(detail, list) else [{"msg": str(detail)}]:
        loc = [str(part) for part in error.get("loc", [])]
        kind = str(error.get("type", ""))
        messages.append(str(error.get("msg", "")))
        if "spec" not in loc or loc[-1] == "spec":
            continue
        path = loc[loc.index("spec") + 1 :]
        name = ".".join(path)
        if kind == "extra_forbidden":
            lacking.append(name)
        elif kind.endswith(("_error", "_type", "_invalid", "_parsing")) and kind != "value_error":
            lacking.append(f"{name}={lookup(spec, path)}")
    if lacking:
        return f"n/a (service lacks {', '.join(lacking)})"
    message = re.sub(r"\s+", " ", "; ".join(messages)).replace("|", "/")
    return f"n/a (422: {message[:80]})"


def run_service(client: Any, series: Series, config: dict[str, Any]) -> Cell:
    from service.client import RequestFailed, ServerFailed

    spec = build_spec(config, series)
    if spec is None:
        return Cell()
    model_name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{series.name}-{config['name']}")
    train = series.train.tolist()
    try:
        started = time.perf_counter()
        result = client.train(model_name, series=train, spec=spec)
        seconds = time.perf_counter() - started
        answer = client.forecast(model_name, series=train, horizon=series.horizon)
    except RequestFailed as error:
        if error.status_code != 422:
            raise
        print(f"  {series.name} / {config['name']}: 422 {error.detail}", file=sys.stderr)
        return Cell(text=unavailable(error.detail, spec))
    except ServerFailed as error:  # reported in its cell: one failure does not end the run
        print(f"  {series.name} / {config['name']}: {error}", file=sys.stderr)
        return Cell(text=f"error ({error.status_code})")
    error_mse = mse(series.holdout, answer["forecast"])
    cell = Cell(error_mse, fmt(error_mse), seconds, int(result["epochs_run"]))
    if series.family == "lecture sine":
        cell.one_step, cell.lecture_test = sine_one_step(client, model_name, series)
    return cell


def sine_one_step(client: Any, model_name: str, series: Series) -> tuple[float, float]:
    """One-step MSE as the lecture measures it: a prediction per window of actual values. On the
    held-out points (the training part as history, then the test points: the last 40 windows'
    targets are the test points) and on the lecture's test series sin(x), x in [90, 200)."""
    history = np.concatenate([series.train, series.holdout]).tolist()
    predictions = client.forecast(model_name, series=history)["predictions"]
    held_out = mse(series.holdout, predictions[-series.horizon :])
    lecture = client.forecast(model_name, series=np.sin(np.arange(90, 200, 0.5)).tolist())
    return held_out, float(lecture["mse"])


# Output


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Row:
    series: Series
    baselines: dict[str, float | None]
    ets: EtsOutcome
    cells: dict[str, Cell] = field(default_factory=dict)

    @property
    def best_baseline(self) -> float:
        return min(v for v in self.baselines.values() if v is not None)


def evaluate(series: Series, client: Any, configs: list[dict[str, Any]]) -> Row:
    train, h, m = series.train, series.horizon, series.season_length
    baselines = {
        "naive": mse(series.holdout, naive(train, h)),
        "seasonal naive": mse(series.holdout, seasonal_naive(train, h, m)) if m else None,
        "drift": mse(series.holdout, drift(train, h)),
    }
    row = Row(series, baselines, ets(series))
    for config in configs:
        print(f"{series.name} / {config['name']} ...", file=sys.stderr)
        row.cells[config["name"]] = run_service(client, series, config)
    return row


def accuracy_table(rows: list[Row], names: list[str]) -> str:
    header = ["series", "naive", "seasonal naive", "drift", "ETS", *names]
    header += [f"{name} / best baseline" for name in names]
    body = []
    for row in rows:
        line = [row.series.label, *(fmt(v) for v in row.baselines.values()), row.ets.text]
        line += [row.cells[name].text for name in names]
        for name in names:
            value = row.cells[name].mse
            line.append("-" if value is None else f"{value / row.best_baseline:.3g}")
        body.append(line)
    return table(header, body)


def seconds_table(rows: list[Row], names: list[str]) -> str:
    body = []
    for row in rows:
        line = [row.series.name]
        for name in names:
            cell = row.cells[name]
            line.append("-" if cell.seconds is None else f"{cell.seconds:.1f} s ({cell.epochs})")
        body.append(line)
    return table(["series", *(f"{name}: s (epochs)" for name in names)], body)


def summary_table(rows: list[Row], names: list[str]) -> str:
    body = []
    for name in names:
        pairs = [(row, v) for row in rows if (v := row.cells[name].mse) is not None]
        if not pairs:
            body.append([name, "0", "-", "-", "-"])
            continue
        ratios = [value / row.best_baseline for row, value in pairs]
        geo = math.exp(sum(math.log(max(r, 1e-300)) for r in ratios) / len(ratios))
        beat_best = sum(r < 1 for r in ratios)
        ets_pairs = [(v, e) for row, v in pairs if (e := row.ets.mse) is not None]
        beat_ets = sum(v < ets_mse for v, ets_mse in ets_pairs)
        body.append(
            [
                name,
                str(len(pairs)),
                f"{geo:.3g}",
                f"{beat_best}/{len(pairs)}",
                f"{beat_ets}/{len(ets_pairs)}",
            ]
        )
    header = [
        "configuration",
        "series",
        "geometric mean of service / best baseline",
        "beats best baseline",
        "beats ETS",
    ]
    return table(header, body)


def report(rows: list[Row], names: list[str], notes: list[str], seconds: float) -> None:
    families: dict[str, list[Row]] = {}
    for row in rows:
        families.setdefault(row.series.family, []).append(row)
    print("Holdout MSE of an H-step forecast from the end of the training part (n points).")
    print("ETS: Holt-Winters, additive damped trend, seasonal add/mul as suits the series;")
    print("* = statsmodels reported no convergence. Best baseline = min(naive, seasonal, drift).")
    for family, family_rows in families.items():
        print(f"\n### {family}\n")
        print(accuracy_table(family_rows, names))
        print("\nTraining: seconds per /train request (epochs run)\n")
        print(seconds_table(family_rows, names))
    for row in families.get("lecture sine", []):
        print()
        for name in names:
            cell = row.cells[name]
            if cell.mse is None:
                print(f"sine, {name}: {cell.text}")
                continue
            lecture = cell.lecture_test
            verdict = "meets" if lecture is not None and lecture <= 1e-5 else "misses"
            print(
                f"sine, {name}: one-step test MSE {fmt(cell.one_step)} on the 40 held-out points, "
                f"{fmt(lecture)} on the lecture's test series x in [90, 200) ({verdict} the "
                f"lecture's <= 1e-05); recursive {row.series.horizon}-step holdout MSE "
                f"{fmt(cell.mse)}"
            )
    if len(rows) > 1:
        print("\n### all series\n")
        print(summary_table(rows, names))
    if notes:
        print("\nReal series:")
        print("\n".join(notes))
    print(f"\nTotal {seconds:.0f} s.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", nargs="+", metavar="NAME", help="generator or series names")
    parser.add_argument("--quick", action="store_true", help="one seed per generator")
    parser.add_argument("--transforms", action="store_true", help="also TRANSFORM_CONFIGS")
    parser.add_argument("--auto", action="store_true", help="also AUTO_CONFIGS")
    args = parser.parse_args()

    configs = list(CONFIGS)
    if args.transforms:
        configs += TRANSFORM_CONFIGS
    if args.auto:
        configs += AUTO_CONFIGS
    series, notes = build_series(args.quick, set(args.series) if args.series else None)
    if not series:
        parser.error(f"no series matches {args.series}")

    from fastapi.testclient import TestClient

    from service.client import ForecastClient
    from service.config import Settings
    from service.main import create_app

    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as store,
        TestClient(create_app(Settings(store_dir=Path(store)))) as http,
    ):
        client = ForecastClient(http=http)
        rows = [evaluate(s, client, configs) for s in series]
    report(rows, [c["name"] for c in configs], notes, time.perf_counter() - started)


if __name__ == "__main__":
    main()
