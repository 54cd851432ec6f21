from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.utils import sine, tiny_spec, train_body, wait_for_job


def test_backtest_scores_rolling_forecasts_beside_baselines(
    client: TestClient, trained: dict[str, Any]
) -> None:
    series = sine(40, start=3.0)
    body = {"model_name": "shared", "series": series, "horizon": 3, "origins": 5}
    response = client.post("/backtest", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["origins"] == [33, 34, 35, 36, 37]
    assert len(result["model"]["per_step"]["mse"]) == 3
    assert set(result["baselines"]) == {"naive", "drift"}
    # The same forecasts /forecast gives from each origin.
    errors = []
    for origin in result["origins"]:
        ahead = client.post(
            "/forecast", json={"model_name": "shared", "series": series[:origin], "horizon": 3}
        ).json()["forecast"]
        errors.append(np.array(series[origin : origin + 3]) - np.array(ahead))
    assert result["model"]["mse"] == pytest.approx(float(np.mean(np.square(errors))), rel=1e-5)
    best = min(b["mse"] for b in result["baselines"].values())
    assert result["skill"] == pytest.approx(result["model"]["mse"] / best)
    assert result["model"]["mase"] is not None


def test_backtest_needs_room_for_the_horizon(client: TestClient, trained: dict[str, Any]) -> None:
    body = {"model_name": "shared", "series": sine(7), "horizon": 3}
    response = client.post("/backtest", json=body)
    assert response.status_code == 422
    assert "and the 3 steps after it" in response.text


def test_refit_backtest_trains_per_origin_in_a_worker(client: TestClient) -> None:
    """Refit: the version's spec trained afresh on the history before each origin. With a
    dense model, 40 epochs and the same seed, the last origin's forecast is the one a model
    trained on that same history through /train gives."""
    spec = tiny_spec(architecture="dense", epochs=40, interval_horizon=0)
    series = sine(40, start=1.0)
    body = train_body("refitted", series=series[:30], spec=spec, test_series=None)
    assert client.post("/train", json=body).status_code == 201
    request = {"model_name": "refitted", "series": series, "horizon": 3, "origins": 3}
    fixed = client.post("/backtest", json=request).json()
    refit = client.post("/backtest", json={**request, "refit": True})
    assert refit.status_code == 200, refit.text
    result = refit.json()
    assert result["refit"] is True
    assert fixed["refit"] is False
    assert result["origins"] == fixed["origins"] == [35, 36, 37]
    assert len(result["model"]["per_step"]["mse"]) == 3
    assert result["baselines"] == fixed["baselines"]  # the same origins, the same baselines
    assert result["model"]["mse"] != fixed["model"]["mse"]  # other models, other forecasts
    # One origin by hand: train on series[:37] through /train, forecast 3 steps from there.
    body = train_body("by-hand", series=series[:37], spec=spec, test_series=None)
    assert client.post("/train", json=body).status_code == 201
    ahead = client.post(
        "/forecast", json={"model_name": "by-hand", "series": series[:37], "horizon": 3}
    ).json()["forecast"]
    by_hand = float(np.mean((np.array(series[37:40]) - np.array(ahead)) ** 2))
    one = client.post("/backtest", json={**request, "origins": 1, "refit": True}).json()
    assert one["origins"] == [37]
    assert one["model"]["mse"] == pytest.approx(by_hand, rel=1e-4)


def test_refit_backtest_as_a_job_and_its_limits(
    client: TestClient, trained: dict[str, Any]
) -> None:
    request = {"model_name": "shared", "series": sine(40), "horizon": 2, "origins": 2}
    accepted = client.post("/backtest", json={**request, "refit": True, "async": True})
    assert accepted.status_code == 202, accepted.text
    job = wait_for_job(client, accepted.json()["job_id"])
    assert job["status"] == "succeeded", job
    assert job["kind"] == "backtest"
    assert job["result"] is None
    assert job["backtest"]["origins"] == [37, 38]
    # Too little history before the first origin to train on: 422 naming `origins`.
    short = client.post(
        "/backtest", json={**request, "series": sine(12), "origins": 5, "refit": True}
    )
    assert short.status_code == 422
    assert short.json()["detail"][0]["loc"] == ["body", "origins"]
    too_many = client.post("/backtest", json={**request, "origins": 51, "refit": True})
    assert too_many.status_code == 422
    assert "FORECAST_MAX_REFIT_ORIGINS" in too_many.text
    not_refit = client.post("/backtest", json={**request, "async": True})
    assert not_refit.status_code == 422


def test_forecast_intervals_from_the_stored_calibration(client: TestClient) -> None:
    spec = tiny_spec(interval_horizon=4, calibration_origins=10)
    assert client.post("/train", json=train_body("banded", spec=spec)).status_code == 201
    body = {"model_name": "banded", "series": sine(20), "horizon": 6, "levels": [80, 95]}
    response = client.post("/forecast", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    forecast = np.array(result["forecast"])
    bands = {i["level"]: (np.array(i["lower"]), np.array(i["upper"])) for i in result["intervals"]}
    for lower, upper in bands.values():
        assert (lower <= forecast).all()
        assert (forecast <= upper).all()
    assert ((bands[95][1] - bands[95][0]) >= (bands[80][1] - bands[80][0])).all()
    card = client.get("/models/banded/versions/1").json()["card"]
    assert card["calibration"]["horizon"] == 4
    assert card["calibration"]["origins"] == 10
    assert card["calibration"]["source"] == "test_series"


def test_levels_need_a_horizon_and_a_calibrated_model(client: TestClient) -> None:
    no_horizon = {"model_name": "x", "series": sine(20), "levels": [90]}
    assert client.post("/forecast", json=no_horizon).status_code == 422
    spec = tiny_spec(interval_horizon=0)
    assert client.post("/train", json=train_body("unbanded", spec=spec)).status_code == 201
    body = {"model_name": "unbanded", "series": sine(20), "horizon": 3, "levels": [90]}
    response = client.post("/forecast", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "levels"]
