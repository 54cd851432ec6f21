from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.utils import store_listing, tiny_spec, train_body


def growth(n: int, start: int = 0) -> list[float]:
    t = np.arange(start, start + n)
    return [float(v) for v in 10 * 1.02**t * (1 + 0.2 * np.sin(2 * np.pi * t / 12))]


def test_log_and_difference_train_and_forecast_in_original_units(client: TestClient) -> None:
    # A window of a whole season: every target has a value one season back (the baseline).
    spec = tiny_spec(
        transforms=[{"type": "log"}, {"type": "difference"}],
        season_length=12,
        epochs=20,
        window={"length": 12},
    )
    body = train_body("growth", series=growth(80), test_series=growth(30, start=80), spec=spec)
    response = client.post("/train", json=body)
    assert response.status_code == 201, response.text
    metrics = response.json()["metrics"]
    for key in ("test_mse", "naive_mse", "seasonal_naive_mse", "drift_mse", "skill"):
        assert metrics[key] is not None, key
        assert metrics[key] > 0, key
    card = client.get("/models/growth/versions/1").json()["card"]
    assert [t["type"] for t in card["preprocessing"]["transforms"]] == ["log", "difference"]
    forecast = client.post(
        "/forecast", json={"model_name": "growth", "series": growth(30, start=80), "horizon": 6}
    ).json()
    assert len(forecast["predictions"]) == 30 - 13  # the difference uses up one row
    assert forecast["seasonal_naive_mse"] is not None
    assert all(v > 0 for v in forecast["forecast"])  # back through exp: original units


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"series": [1.0, -2.0, *growth(40)]}, "series[1] is -2: the log transform needs"),
        ({"test_series": [0.0] * 12}, "test_series[0] is 0: the log transform"),
        ({"series": growth(6)}, "after the 1 rows the transforms use up"),
    ],
)
def test_transform_preconditions_are_422(
    client: TestClient, store_root: Path, change: dict[str, Any], message: str
) -> None:
    before = store_listing(store_root)
    spec = tiny_spec(transforms=[{"type": "log"}, {"type": "difference"}])
    body = train_body("bad-log", series=growth(60), test_series=growth(20), spec=spec)
    response = client.post("/train", json={**body, **change})
    assert response.status_code == 422, response.text
    assert message in response.text
    assert store_listing(store_root) == before


def test_transforms_need_a_series(client: TestClient) -> None:
    body = {
        "model_name": "no-inputs",
        "inputs": [[[1.0]]] * 4,
        "targets": [1.0] * 4,
        "spec": tiny_spec(transforms=[{"type": "difference"}]),
    }
    response = client.post("/train", json=body)
    assert response.status_code == 422
    assert "apply to `series`" in response.text


def test_forecast_checks_the_model_transforms(client: TestClient) -> None:
    spec = tiny_spec(transforms=[{"type": "seasonal_difference", "season_length": 12}])
    assert (
        client.post("/train", json=train_body("seasonal", series=growth(60), spec=spec)).status_code
        == 201
    )
    short = client.post("/forecast", json={"model_name": "seasonal", "series": growth(16)})
    assert short.status_code == 422
    assert "after the 12 rows its transforms use up" in short.text
    windows = client.post("/forecast", json={"model_name": "seasonal", "inputs": [[[1.0]] * 5]})
    assert windows.status_code == 422
    assert "send the `series` itself" in windows.text
    ok = client.post(
        "/forecast", json={"model_name": "seasonal", "series": growth(17), "horizon": 3}
    )
    assert ok.status_code == 200
    assert len(ok.json()["predictions"]) == 0
    assert len(ok.json()["forecast"]) == 3


def test_window_normalisation_over_http(client: TestClient) -> None:
    spec = tiny_spec(window_normalization="last")
    response = client.post("/train", json=train_body("normalised", spec=spec))
    assert response.status_code == 201, response.text
    body = {"model_name": "normalised", "series": growth(12), "horizon": 2}
    assert client.post("/forecast", json=body).status_code == 200
