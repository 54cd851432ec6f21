"""Prediction intervals end to end: over HTTP, in the plot, through the client, and a level
given as a fraction refused with the hint."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from forecast_client import ForecastClient
from tests.utils import sine, tiny_spec, train_body

BODY = {"model_name": "intervals", "series": sine(30), "horizon": 8}


@pytest.fixture(scope="module")
def calibrated(client: TestClient) -> dict[str, Any]:
    spec = tiny_spec(interval_horizon=8, calibration_origins=10)
    response = client.post("/train", json=train_body("intervals", spec=spec))
    assert response.status_code == 201, response.text
    return response.json()


def pixels(png: bytes) -> np.ndarray:
    from matplotlib.image import imread

    image: np.ndarray = imread(io.BytesIO(png), format="png")
    return image[..., :3]


def test_the_plot_draws_the_bands(client: TestClient, calibrated: dict[str, Any]) -> None:
    plain = client.post("/forecast/plot", json=BODY)
    banded = client.post("/forecast/plot", json={**BODY, "levels": [80, 95]})
    assert plain.status_code == banded.status_code == 200, banded.text
    before, after = pixels(plain.content), pixels(banded.content)
    assert before.shape == after.shape == (500, 900, 3)
    # The bands shade the forecast steps, at the right of the plot: pixels there change, while
    # the history on the left stays as it was (the y-range may widen, so compare columns only
    # in the left fifth, where the bands are not).
    changed = np.abs(after - before).sum(axis=2) > 0.05
    columns = changed.any(axis=0)
    assert columns[int(0.75 * 900) :].mean() > 0.05
    # A translucent green: the band colour (matplotlib's C2) over white.
    green = (after[..., 1] > after[..., 0] + 0.05) & (after[..., 1] > after[..., 2] + 0.05)
    assert green[:, int(0.6 * 900) :].sum() > 10 * green[:, : int(0.2 * 900)].sum() + 500


def test_a_level_below_one_is_taken_for_a_fraction(
    client: TestClient, calibrated: dict[str, Any]
) -> None:
    response = client.post("/forecast", json={**BODY, "levels": [0.9]})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "levels"]
    assert "did you mean 90?" in error["msg"]
    assert client.post("/forecast", json={**BODY, "levels": [90]}).status_code == 200


def test_the_client_asks_for_levels(client: TestClient, calibrated: dict[str, Any]) -> None:
    api = ForecastClient(http=client)
    result = api.forecast("intervals", series=sine(30), horizon=8, levels=[80, 95])
    assert [i["level"] for i in result["intervals"]] == [80, 95]
    assert len(result["intervals"][0]["lower"]) == 8
