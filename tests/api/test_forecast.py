from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.utils import sine


def forecast(client: TestClient, **body: Any) -> Any:
    return client.post("/forecast", json={"model_name": "shared", **body})


def test_series_gives_one_prediction_per_window_and_mse(
    client: TestClient, trained: dict[str, Any]
) -> None:
    series = sine(25, start=7.0)
    response = forecast(client, series=series)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == trained["version"]
    assert len(body["predictions"]) == 20  # 25 - length 5
    predictions = np.array(body["predictions"])
    assert body["mse"] == pytest.approx(np.mean((predictions - series[5:]) ** 2))
    naive = np.array(series[4:-1])
    assert body["naive_mse"] == pytest.approx(np.mean((naive - series[5:]) ** 2))
    assert body["forecast"] is None


def test_inputs_match_series_windows(client: TestClient, trained: dict[str, Any]) -> None:
    series = sine(12)
    windows = [[[v] for v in series[i : i + 5]] for i in range(7)]
    from_series = forecast(client, series=series).json()["predictions"]
    from_inputs = forecast(client, inputs=windows, targets=series[5:]).json()
    assert from_inputs["predictions"] == pytest.approx(from_series, rel=1e-6)
    assert from_inputs["mse"] is not None


def test_horizon_forecasts_past_the_end(client: TestClient, trained: dict[str, Any]) -> None:
    body = forecast(client, series=sine(5), horizon=4).json()
    assert body["predictions"] == []  # exactly one window: nothing to compare with
    assert body["mse"] is None
    assert len(body["forecast"]) == 4


def test_version_can_be_chosen(client: TestClient, trained: dict[str, Any]) -> None:
    assert forecast(client, series=sine(6), version=1).json()["version"] == 1


def test_unknown_model_and_version_are_404(client: TestClient, trained: dict[str, Any]) -> None:
    missing = client.post("/forecast", json={"model_name": "missing", "series": sine(6)})
    assert missing.status_code == 404
    assert "missing" in missing.json()["detail"]
    assert forecast(client, series=sine(6), version=999).status_code == 404


def test_wrong_timesteps_name_the_model(client: TestClient, trained: dict[str, Any]) -> None:
    response = forecast(client, inputs=[[[0.1]] * 4])
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "inputs"]
    assert detail["msg"] == (
        f"inputs has windows of 4 timesteps, model shared@{trained['version']} expects 5"
    )


def test_wrong_features_and_short_series(client: TestClient, trained: dict[str, Any]) -> None:
    wide = forecast(client, series=[[0.0, 1.0]] * 8)
    assert wide.status_code == 422
    assert "2 features" in wide.json()["detail"][0]["msg"]
    short = forecast(client, series=sine(4))
    assert short.status_code == 422
    assert "at least one window of 5" in short.json()["detail"][0]["msg"]


def test_horizon_with_inputs_is_rejected(client: TestClient, trained: dict[str, Any]) -> None:
    response = forecast(client, inputs=[[[0.1]] * 5], horizon=2)
    assert response.status_code == 422
    assert "horizon needs `series`" in response.text


def test_a_small_request_for_a_loaded_version_runs_on_the_event_loop(
    client: TestClient, trained: dict[str, Any]
) -> None:
    """Only a few windows for a version already in the cache skip the thread pool (nothing to
    read but the version's stats); the answers are those of the thread pool's path."""
    from service.schemas.forecast import ForecastRequest
    from service.usecases.forecasting import runs_inline

    state = client.app.state  # type: ignore[attr-defined]
    state.cache.evict("shared")

    def inline(**body: Any) -> bool:
        request = ForecastRequest.model_validate({"model_name": "shared", **body})
        return runs_inline(request, store=state.store, cache=state.cache)

    assert not inline(series=sine(12))  # not loaded: its files are read in the thread pool
    first = forecast(client, series=sine(12))
    assert first.status_code == 200, first.text
    assert inline(series=sine(12))
    assert inline(series=sine(12), horizon=8)
    assert inline(inputs=[[[0.1]] * 5] * 8)
    assert forecast(client, series=sine(12)).json() == first.json()
    assert not inline(series=sine(65))
    assert not inline(series=sine(12), horizon=9)
    assert not inline(inputs=[[[0.1]] * 5] * 9)
    assert not inline(horizon=3)  # from the stored training series, read from disk
    longer = forecast(client, series=sine(65)).json()  # through the thread pool
    assert longer["predictions"][:7] == pytest.approx(first.json()["predictions"], rel=1e-6)
    # An unknown version is a 404 from either path.
    assert forecast(client, series=sine(12), version=999).status_code == 404
