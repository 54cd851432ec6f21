from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from service.errors import InvalidInput
from service.forecasting.auto import ENSEMBLE_SIZE, candidate_specs, plan
from service.forecasting.data import Preprocessing
from service.forecasting.spec import TrainSpec
from service.forecasting.transforms import Transform, fit, lag
from service.schemas.train import TrainRequest
from service.usecases.checks import check_train_request
from tests.utils import tiny_spec, train_body


def rising(n: int, start: int = 0) -> list[float]:
    t = np.arange(start, start + n)
    return [float(v) for v in 5 + 0.2 * t + np.sin(t / 2)]


def test_candidates_cover_presets_and_transforms() -> None:
    auto = TrainSpec(architecture="auto", transforms="auto", season_length=12)
    specs = candidate_specs(auto, np.arange(1.0, 50.0))
    chains = {(tuple(t.type for t in s.chain), s.window_normalization) for s in specs}
    assert {s.architecture for s in specs} == {"lstm", "gru"}
    assert chains == {
        ((), "last"),
        (("log",), "last"),
        (("smoothing",), "none"),
        (("log", "smoothing"), "none"),
    }
    assert len(specs) == 8
    smoothing = [s.chain[-1] for s in specs if s.chain and s.chain[-1].type == "smoothing"]
    assert {step.season_length for step in smoothing} == {12}
    # Windows the rows before the validation tail allow (the spec gives none): one length for
    # the candidates with a smoothing prior, one for the others.
    assert {(bool(smoothing_of(s)), s.window.length) for s in specs} == {(False, 13), (True, 6)}
    # Each holds out its last windows for early stopping unless the spec says otherwise.
    assert {s.validation_fraction for s in specs} == {0.15}
    own = TrainSpec(architecture="auto", validation_fraction=0.3)
    assert {s.validation_fraction for s in candidate_specs(own, np.arange(1.0, 50.0))} == {0.3}
    # No log for data that is not positive; the architecture stays when only transforms are auto.
    fixed = TrainSpec(architecture="gru", transforms="auto")
    specs = candidate_specs(fixed, np.arange(-5.0, 45.0))
    assert [(s.architecture, [t.type for t in s.chain], s.window_normalization) for s in specs] == [
        ("gru", [], "last"),
        ("gru", ["smoothing"], "none"),
    ]
    # A window normalization the spec asks for is a candidate too; a 2-D series has no
    # smoothing prior (it filters one column).
    own_norm = TrainSpec(architecture="gru", transforms="auto", window_normalization="mean")
    specs = candidate_specs(own_norm, np.arange(-5.0, 45.0).reshape(-1, 2))
    assert [(s.window_normalization, [t.type for t in s.chain]) for s in specs] == [
        ("mean", []),
        ("last", []),
    ]


def smoothing_of(spec: TrainSpec) -> list[str]:
    return [t.type for t in spec.chain if t.type == "smoothing"]


@pytest.fixture(scope="module")
def chosen(client: TestClient) -> dict[str, Any]:
    """Architecture and transforms chosen by auto, stored as model `chosen`."""
    spec = tiny_spec(architecture="auto", transforms="auto", epochs=60, window={"length": 6})
    del spec["units"]
    body = train_body("chosen", series=rising(90), test_series=rising(30, start=90), spec=spec)
    response = client.post("/train", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.slow
def test_auto_ranks_candidates_by_validation_and_keeps_the_best(
    client: TestClient, chosen: dict[str, Any]
) -> None:
    board = chosen["leaderboard"]
    # 2 presets x (relative to last, log relative to last, smoothing, log + smoothing)
    assert len(board) == 8
    errors = [c["validation_mse"] for c in board]
    assert errors == sorted(errors)
    assert [c["kept"] for c in board] == [True] * ENSEMBLE_SIZE + [False] * (8 - ENSEMBLE_SIZE)
    # Beside it, the smoothing priors alone and the baselines, on the same origins.
    names = {s["name"] for s in chosen["statistical"]}
    assert {"naive", "drift"} <= names
    # Every smoothing prior tried: three trend forms, on the series and on its log (no season
    # given here).
    forms = {
        f"ETS{on} (trend {t}, season N)" for on in ("", " on the log") for t in ("N", "A", "Ad")
    }
    assert {name for name in names if "ETS" in name} == forms
    card = client.get("/models/chosen/versions/1").json()["card"]
    assert card["spec"]["architecture"] != "auto"
    assert card["leaderboard"] == board
    # The best, as validated (trained without the tail), is the version's own network; its
    # ensemble holds the others kept, in their order on the leaderboard.
    specs = [chosen["spec"], *(m["spec"] for m in card["ensemble"])]
    best = [
        (c["architecture"], c["transforms"], c["window_normalization"])
        for c in board[:ENSEMBLE_SIZE]
    ]
    assert [describe(s) for s in specs] == best
    tail = plan(TrainSpec(), 90).tail
    excluded = [card["excluded_rows"], *(m["excluded_rows"] for m in card["ensemble"])]
    assert excluded == [tail] * ENSEMBLE_SIZE
    # Each shrunk towards its prior as its candidate was, so that a refit can do the same.
    shares = [card["network_share"], *(m["network_share"] for m in card["ensemble"])]
    assert shares == [c["network_share"] or 1.0 for c in board[:ENSEMBLE_SIZE]]


@pytest.mark.slow
def test_an_auto_version_serves_the_mean_of_its_networks(
    client: TestClient, chosen: dict[str, Any], store_root: Path
) -> None:
    import keras

    from service.forecasting.inference import Forecaster, keras_forward
    from service.store.card import ModelCard
    from service.store.local import MODEL_FILE

    folder = store_root / "chosen" / "1"
    card = ModelCard.model_validate_json((folder / "card.json").read_text())
    folders = [folder, *(folder / "members" / str(i) for i in range(1, ENSEMBLE_SIZE))]
    series = rising(30, start=90)
    alone = [
        Forecaster(
            keras_forward(keras.saving.load_model(f / MODEL_FILE, compile=False)), prep
        ).forecast(np.array(series), horizon=5)[:, 0]
        for f, prep in zip(folders, card.preprocessings, strict=True)
    ]
    response = client.post(
        "/forecast", json={"model_name": "chosen", "series": series, "horizon": 5}
    )
    assert response.status_code == 200, response.text
    served = np.array(response.json()["forecast"])
    np.testing.assert_allclose(served, np.mean(alone, axis=0), rtol=1e-5)
    assert np.abs(served - alone[0]).max() > 1e-3  # not the best network alone
    # A series too short for the network whose transforms use up the most rows is refused.
    needed = 6 + max(lag(p.transforms) for p in card.preprocessings)
    short = client.post("/forecast", json={"model_name": "chosen", "series": series[: needed - 1]})
    assert short.status_code == 422
    assert short.json()["detail"][0]["loc"] == ["body", "series"]
    assert "needs at least one window of 6" in short.text
    assert (
        client.post(
            "/forecast", json={"model_name": "chosen", "series": series[:needed]}
        ).status_code
        == 200
    )


@pytest.mark.slow
def test_a_refit_backtest_retrains_every_network_of_an_ensemble(
    client: TestClient, chosen: dict[str, Any]
) -> None:
    """From the end of the training series, with the same specs and seeds, the refit ensemble
    is the stored one: the same forecasts as the fixed backtest's."""
    series = rising(93)
    request = {"model_name": "chosen", "series": series, "horizon": 3, "origins": 1}
    fixed = client.post("/backtest", json=request)
    refit = client.post("/backtest", json={**request, "refit": True})
    assert fixed.status_code == refit.status_code == 200, refit.text
    assert refit.json()["origins"] == fixed.json()["origins"] == [90]
    assert refit.json()["model"]["mse"] == pytest.approx(fixed.json()["model"]["mse"], rel=1e-3)


@pytest.mark.slow
def test_a_refit_backtest_refits_the_priors_and_shrinks_the_networks_as_trained(
    client: TestClient,
) -> None:
    """Networks that correct a smoothing prior, validated without the tail and kept with the
    prior fitted again to every row, one shrunk towards it: the refit from the end of the
    training series retrains, refits and shrinks them the same way."""
    spec = tiny_spec(architecture="auto", transforms=[{"type": "smoothing"}])
    spec |= {"epochs": 60, "learning_rate": 0.05, "units": 8}  # overfits: shrinking pays
    series = np.array(rising(90)) + np.random.default_rng(4).normal(0, 0.5, 90)
    body = train_body("noisy", series=series.tolist(), spec=spec)
    assert client.post("/train", json=body).status_code == 201
    card = client.get("/models/noisy/versions/1").json()["card"]
    networks = [card, *card["ensemble"]]
    tail = plan(TrainSpec(), 90).tail
    assert all(n["excluded_rows"] == tail for n in networks)
    assert min(n["network_share"] for n in networks) < 1.0
    without_tail = fit([Transform(type="smoothing")], series[:-tail, None])
    for n in networks:
        assert Preprocessing.model_validate(n["preprocessing"]).transforms != without_tail
    request = {"model_name": "noisy", "series": series.tolist() + [0.0] * 3, "horizon": 3}
    request |= {"origins": 1}
    fixed = client.post("/backtest", json=request)
    refit = client.post("/backtest", json={**request, "refit": True})
    assert fixed.status_code == refit.status_code == 200, refit.text
    assert refit.json()["origins"] == fixed.json()["origins"] == [90]
    assert refit.json()["model"]["mse"] == pytest.approx(fixed.json()["model"]["mse"], rel=1e-4)


def describe(spec: dict[str, Any]) -> tuple[str, list[str], str]:
    return (
        spec["architecture"],
        [t["type"] for t in spec["transforms"]],
        spec["window_normalization"],
    )


def test_auto_on_a_series_too_short_to_validate_is_422(client: TestClient) -> None:
    spec = tiny_spec(architecture="auto", window={"length": 5})
    response = client.post("/train", json=train_body("too-short", series=rising(12), spec=spec))
    assert response.status_code == 422
    assert "too short to validate" in response.text


@pytest.mark.slow
def test_series_checks_cover_every_network_of_an_ensemble(
    chosen: dict[str, Any], store_root: Path
) -> None:
    """A member that takes a log or differences more than the best network decides what a
    series must be (the card edited so that only a member does)."""
    from service.errors import InvalidInput
    from service.forecasting.transforms import Transform
    from service.store.card import ModelCard
    from service.usecases.checks import check_series

    card = ModelCard.model_validate_json((store_root / "chosen" / "1" / "card.json").read_text())
    steps = [Transform(type="log"), Transform(type="seasonal_difference", season_length=4)]

    def with_transforms(prep: Preprocessing, chain: list[Transform]) -> Preprocessing:
        return prep.model_copy(update={"transforms": chain})

    members = [
        m.model_copy(update={"preprocessing": with_transforms(m.preprocessing, [])})
        for m in card.ensemble
    ]
    members[-1].preprocessing = with_transforms(members[-1].preprocessing, steps)
    edited = card.model_copy(
        update={"preprocessing": with_transforms(card.preprocessing, []), "ensemble": members}
    )
    series = np.array(rising(30, start=90))
    # A window of 6 after the member's 4 rows:
    check_series(series[:10], edited, Settings(), horizon=0)
    with pytest.raises(InvalidInput, match="after the 4 rows its transforms use up"):
        check_series(series[:9], edited, Settings(), horizon=0)
    with pytest.raises(InvalidInput, match="the log transform needs positive data"):
        check_series(series - 40, edited, Settings(), horizon=0)


@pytest.mark.slow
def test_a_version_missing_a_members_weights_is_listed_broken_and_409(
    client: TestClient, chosen: dict[str, Any], store_root: Path
) -> None:
    copy = store_root / "one-member-short" / "1"
    shutil.copytree(store_root / "chosen" / "1", copy)
    card = json.loads((copy / "card.json").read_text())
    (copy / "card.json").write_text(json.dumps({**card, "model_name": "one-member-short"}))
    for file in (copy / "members" / "2").iterdir():
        file.unlink()
    detail = client.get("/models/one-member-short").json()
    assert detail["versions"][0]["status"] == "broken"
    assert "weights missing" in detail["versions"][0]["error"]
    response = client.post(
        "/forecast", json={"model_name": "one-member-short", "series": rising(30)}
    )
    assert response.status_code == 409
    assert "one-member-short@1" in response.json()["detail"]


def test_auto_needs_a_test_series_long_enough_for_every_candidate(client: TestClient) -> None:
    """A smoothing prior among the candidates estimates its states from its first 26 rows
    (two seasons and two) before the first window: a test series that gives it no window is
    refused rather than scored on nothing."""
    spec = tiny_spec(transforms="auto", season_length=12, window={"length": 6})
    body = train_body("short-test", series=rising(90), test_series=rising(15), spec=spec)
    response = client.post("/train", json=body)
    assert response.status_code == 422
    assert "test_series has 15 rows" in response.text
    assert "needs at least 33, after the 26 rows" in response.text


def test_a_candidate_too_long_for_the_series_does_not_decide_the_test_series() -> None:
    """With a 24-row season, 60 rows and windows of 12, the smoothing priors cannot be validated
    (auto skips them), so a test series long enough for every other candidate is accepted."""
    body = train_body(
        "skipped-season",
        series=rising(60),
        test_series=rising(20, start=60),
        spec=tiny_spec(transforms="auto", season_length=24, window={"length": 12}),
    )

    def check(test_series: list[float]) -> None:
        request = TrainRequest.model_validate({**body, "test_series": test_series})
        check_train_request(request, Settings())

    check(rising(20, start=60))
    check(rising(13, start=60))
    with pytest.raises(InvalidInput, match="test_series has 12 rows"):
        check(rising(12, start=60))


@pytest.mark.slow
def test_a_refit_of_an_ensemble_is_limited_by_its_trainings_and_history(
    client: TestClient, chosen: dict[str, Any], settings: Settings
) -> None:
    card = client.get("/models/chosen/versions/1").json()["card"]
    networks = 1 + len(card["ensemble"])
    limit = settings.max_refit_trainings
    request = {"model_name": "chosen", "series": rising(140), "horizon": 3, "refit": True}
    too_many = client.post("/backtest", json={**request, "origins": limit // networks + 1})
    assert too_many.status_code == 422
    assert f"has {networks} networks to retrain per origin" in too_many.text
    assert "FORECAST_MAX_REFIT_TRAININGS" in too_many.text
    # The validation networks trained without the tail: a refit needs their history too.
    lags = [lag(Preprocessing.model_validate(card["preprocessing"]).transforms)] + [
        lag(Preprocessing.model_validate(m["preprocessing"]).transforms) + m["excluded_rows"]
        for m in card["ensemble"]
    ]
    needed = max(lags) + 6 + 2
    short = rising(needed - 1 + 3)  # the only origin leaves needed - 1 rows before it
    refused = client.post("/backtest", json={**request, "series": short, "origins": 1})
    assert refused.status_code == 422
    assert f"leaves {needed - 1} rows of history to train on" in refused.text
    assert f"needs {needed}" in refused.text


@pytest.mark.slow
def test_an_auto_job_reports_which_training_is_running(
    client: TestClient, chosen: dict[str, Any]
) -> None:
    jobs = client.get("/jobs").json()["data"]
    job = next(j for j in jobs if j["model_name"] == "chosen" and j["kind"] == "train")
    assert job["status"] == "succeeded"
    progress = job["progress"]
    assert progress is not None
    assert progress["stage"] == "comparing candidates"  # no retraining without refit_full
    assert progress["networks"] == len(chosen["leaderboard"])
    assert 1 <= progress["network"] <= progress["networks"]


@pytest.mark.slow
def test_an_auto_training_reports_its_whole_time_and_the_parts(
    client: TestClient, chosen: dict[str, Any]
) -> None:
    """`train_seconds` is every network's fitting, candidates' too; `timings` has the parts
    and the whole, which the job's own clock bears out."""
    timings = chosen["timings"]
    parts = ("comparing", "measuring", "saving")
    assert set(parts) | {"total"} == set(timings)  # no retraining without refit_full
    assert sum(timings[p] for p in parts) <= timings["total"] * 1.01
    assert chosen["train_seconds"] <= timings["comparing"]
    job = next(
        j
        for j in client.get("/jobs", params={"limit": 200}).json()["data"]
        if j["model_name"] == "chosen" and j["version"] == chosen["version"]
    )
    started = datetime.fromisoformat(job["started_at"])
    ran = (datetime.fromisoformat(job["finished_at"]) - started).total_seconds()
    assert timings["total"] <= ran * 1.01
    assert timings["total"] >= 0.8 * ran
