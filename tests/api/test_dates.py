"""Dated series: timestamps or start + freq in, timestamps out; the season from the frequency;
gaps interpolated; forecasts from the version's stored history."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.utils import sine, tiny_spec

MONTHS = [d.date().isoformat() for d in pd.date_range("2020-01-01", periods=48, freq="MS")]


@pytest.fixture(scope="module")
def monthly(client: TestClient) -> dict[str, Any]:
    body = {
        "model_name": "monthly",
        "series": sine(48),
        "timestamps": MONTHS,
        "spec": tiny_spec(interval_horizon=3, calibration_origins=5),
        "description": "sine by month",
        "tags": ["demo"],
    }
    response = client.post("/train", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_training_stores_the_frequency_and_its_season(
    client: TestClient, monthly: dict[str, Any]
) -> None:
    assert monthly["freq"] == "MS"
    assert monthly["season_source"] == "freq"
    card = client.get(f"/models/monthly/versions/{monthly['version']}").json()["card"]
    assert card["freq"] == "MS"
    assert card["last_timestamp"] == "2023-12-01T00:00:00"
    assert card["spec"]["season_length"] == 12
    assert card["preprocessing"]["season_length"] == 12
    assert card["history_rows"] == 5  # one window of 5, no transforms


def test_forecast_answers_carry_timestamps(client: TestClient, monthly: dict[str, Any]) -> None:
    body = {"model_name": "monthly", "series": sine(8), "start": "2024-01-01", "freq": "MS"}
    response = client.post("/forecast", json={**body, "horizon": 2, "levels": [80]})
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["freq"] == "MS"
    # Windows of 5: the three predictions are for rows 5, 6 and 7.
    assert out["timestamps"] == [
        "2024-06-01T00:00:00",
        "2024-07-01T00:00:00",
        "2024-08-01T00:00:00",
    ]
    assert out["forecast_timestamps"] == ["2024-09-01T00:00:00", "2024-10-01T00:00:00"]
    assert out["intervals"][0]["timestamps"] == out["forecast_timestamps"]
    assert out["seasonal_naive_mse"] is None  # 8 rows: no season back for any point


def test_forecast_from_the_stored_history_continues_the_training_dates(
    client: TestClient, monthly: dict[str, Any]
) -> None:
    response = client.post("/forecast", json={"model_name": "monthly", "horizon": 3})
    assert response.status_code == 200, response.text
    out = response.json()
    assert len(out["forecast"]) == 3
    assert out["forecast_timestamps"][0] == "2024-01-01T00:00:00"
    same = client.post(
        "/forecast", json={"model_name": "monthly", "series": sine(48), "horizon": 3}
    )
    assert out["forecast"] == pytest.approx(same.json()["forecast"], rel=1e-5)


def test_undated_history_forecast_has_no_dates(client: TestClient, trained: dict[str, Any]) -> None:
    out = client.post("/forecast", json={"model_name": "shared", "horizon": 2}).json()
    assert len(out["forecast"]) == 2
    assert out["forecast_timestamps"] is None


@pytest.mark.parametrize(
    ("dates", "words"),
    [
        (
            {"timestamps": ["2020-01-01", "2020-02-01", "2020-02-01", "2020-04-01"]},
            ["timestamps[2]", "2020-02-01", "repeats"],
        ),
        (
            {"timestamps": ["2020-01-01", "2020-02-01", "2020-04-01", "2020-05-01"], "freq": "MS"},
            ["timestamps[2]", "2020-04-01", "2020-02-01"],
        ),
        (
            {"timestamps": ["2020-01-01", "2020-01-02", "2020-01-04", "2020-01-05"]},
            ["timestamps[2]", "2020-01-04", "timestamps[1]", "2020-01-02"],
        ),
        (
            {"timestamps": ["2020-01-01", "2020-01-03", "2020-01-02", "2020-01-04"]},
            ["timestamps[2]", "comes before"],
        ),
        ({"start": "2020-01-01", "freq": "fortnightly"}, ["freq", "fortnightly"]),
        ({"start": "2020-01-01"}, ["freq"]),
        ({"timestamps": ["2020-01-01", "2020-02-01"]}, ["timestamps has 2", "series has 4"]),
        (
            {"timestamps": ["2020-01-01", "soon", "2020-03-01", "2020-04-01"]},
            ["timestamps", "ISO 8601"],
        ),
        ({"start": "2020-01-15", "freq": "MS"}, ["not on freq", "2020-02-01"]),
    ],
)
def test_bad_dates_are_422_naming_the_index_and_both_timestamps(
    client: TestClient, trained: dict[str, Any], dates: dict[str, Any], words: list[str]
) -> None:
    response = client.post("/forecast", json={"model_name": "shared", "series": sine(4), **dates})
    assert response.status_code == 422, response.text
    for word in words:
        assert word in response.text


def test_dates_without_a_series_are_422(client: TestClient, trained: dict[str, Any]) -> None:
    response = client.post("/forecast", json={"model_name": "shared", "horizon": 2, "freq": "D"})
    assert response.status_code == 422
    assert "series" in response.text


def test_missing_values_interpolated_and_counted(client: TestClient) -> None:
    series: list[float | None] = list(sine(40))
    series[10] = series[11] = None
    body = {"model_name": "gappy", "series": series, "spec": tiny_spec(), "missing": "interpolate"}
    response = client.post("/train", json={**body, "start": "2021-01-01", "freq": "D"})
    assert response.status_code == 201, response.text
    assert response.json()["missing_filled"] == 2
    assert response.json()["season_source"] == "freq"  # daily: 7
    refused = client.post("/train", json={**body, "missing": "error"})
    assert refused.status_code == 422
    assert "series[10] is null" in refused.text
    edge = client.post("/train", json={**body, "series": [None, *sine(40)]})
    assert edge.status_code == 422
    assert "series[0]" in edge.text


def test_backtest_dates_its_origins(client: TestClient, monthly: dict[str, Any]) -> None:
    body = {"model_name": "monthly", "series": sine(30), "horizon": 2, "origins": 3}
    response = client.post("/backtest", json={**body, "start": "2020-01-01", "freq": "MS"})
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["origin_timestamps"] == [f"2022-0{m}-01T00:00:00" for m in (3, 4, 5)]
    assert "seasonal_naive" in out["baselines"]  # the season came from freq


def test_undated_requests_answer_as_before(client: TestClient, trained: dict[str, Any]) -> None:
    out = client.post("/forecast", json={"model_name": "shared", "series": sine(8), "horizon": 1})
    body = out.json()
    assert body["timestamps"] is None
    assert body["freq"] is None
    assert trained["freq"] is None
    assert trained["season_source"] is None


def test_a_gappy_request_round_trips_to_a_worker_with_its_gaps() -> None:
    """Celery sends the request as JSON: the worker parses it again and must count the same
    filled values, so the nulls are serialised back."""
    from service.schemas.train import TrainRequest

    series: list[float | None] = list(sine(20))
    series[3] = None
    body = {"model_name": "g", "series": series, "missing": "interpolate", "start": "2021-01-01"}
    request = TrainRequest.model_validate({**body, "freq": "h"})
    assert request.filled == 1
    again = TrainRequest.model_validate_json(request.model_dump_json(by_alias=True))
    assert again.filled == 1
    assert again.series is not None
    assert again.series.tolist() == request.series.tolist()  # type: ignore[union-attr]
    assert again.calendar is not None
    assert again.calendar.freq == "h"
