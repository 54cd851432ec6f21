from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import sine, tiny_spec, train_body


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
