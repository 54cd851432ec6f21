from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.forecasting.data import Preprocessing
from service.forecasting.scaling import Scaler
from service.forecasting.spec import TrainSpec, WindowSpec
from service.store.card import History, Metrics, ModelCard
from service.usecases import plots
from tests.utils import sine, tiny_spec, train_body

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(body: bytes) -> tuple[int, int]:
    assert body.startswith(PNG_SIGNATURE)
    assert body[12:16] == b"IHDR"
    width, height = struct.unpack(">II", body[16:24])
    return width, height


def assert_png(response: Any, size: tuple[int, int]) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert png_size(response.content) == size


def plot_url(version: int, name: str = "shared") -> str:
    return f"/models/{name}/versions/{version}/plot.png"


def test_version_plot_has_the_default_size(client: TestClient, trained: dict[str, Any]) -> None:
    assert_png(client.get(plot_url(trained["version"])), (900, 500))


def test_version_plot_has_the_requested_size(client: TestClient, trained: dict[str, Any]) -> None:
    response = client.get(plot_url(trained["version"]), params={"width": 200, "height": 150})
    assert_png(response, (200, 150))
    response = client.get(plot_url(trained["version"]), params={"width": 1234, "height": 567})
    assert_png(response, (1234, 567))


@pytest.mark.parametrize(
    "params", [{"width": 199}, {"width": 3001}, {"height": 149}, {"height": 2001}]
)
def test_out_of_range_sizes_are_422(
    client: TestClient, trained: dict[str, Any], params: dict[str, int]
) -> None:
    response = client.get(plot_url(trained["version"]), params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]
    forecast = client.post(
        "/forecast/plot", params=params, json={"model_name": "shared", "series": sine(10)}
    )
    assert forecast.status_code == 422


def test_unknown_model_and_version_are_404(client: TestClient, trained: dict[str, Any]) -> None:
    assert client.get(plot_url(1, name="missing")).status_code == 404
    assert client.get(plot_url(999)).status_code == 404
    missing = client.post("/forecast/plot", json={"model_name": "missing", "series": sine(10)})
    assert missing.status_code == 404
    assert "missing" in missing.json()["detail"]


def test_version_trained_with_validation_plots_val_loss(client: TestClient) -> None:
    body = train_body("plotted-val", spec=tiny_spec(validation_fraction=0.25))
    trained = client.post("/train", json=body)
    assert trained.status_code == 201, trained.text
    assert trained.json()["history"]["val_loss"]
    response = client.get(plot_url(trained.json()["version"], name="plotted-val"))
    assert_png(response, (900, 500))


def test_forecast_plot_with_horizon(client: TestClient, trained: dict[str, Any]) -> None:
    body = {"model_name": "shared", "series": sine(30, start=3.0), "horizon": 15}
    assert_png(client.post("/forecast/plot", json=body), (900, 500))
    sized = client.post("/forecast/plot", params={"width": 640, "height": 360}, json=body)
    assert_png(sized, (640, 360))


def test_forecast_plot_of_one_window_and_a_stride(
    client: TestClient, trained: dict[str, Any]
) -> None:
    one_window = {"model_name": "shared", "series": sine(5)}  # no one-step prediction to draw
    assert_png(client.post("/forecast/plot", json=one_window), (900, 500))
    strided = {"model_name": "shared", "series": sine(40), "stride": 3, "horizon": 4}
    assert_png(client.post("/forecast/plot", json=strided), (900, 500))


def test_forecast_plot_of_a_two_column_series(client: TestClient) -> None:
    series = np.column_stack([sine(60), np.cos(0.5 * np.arange(60))]).tolist()
    trained = client.post(
        "/train", json={"model_name": "plotted-2d", "series": series, "spec": tiny_spec()}
    )
    assert trained.status_code == 201, trained.text
    body = {"model_name": "plotted-2d", "series": series[:20], "horizon": 6}
    assert_png(client.post("/forecast/plot", json=body), (900, 500))


def test_forecast_plot_needs_a_series(client: TestClient, trained: dict[str, Any]) -> None:
    response = client.post("/forecast/plot", json={"model_name": "shared", "inputs": [[[0.1]] * 5]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "series"]


def test_openapi_shows_png_responses(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    get = paths["/models/{name}/versions/{version}/plot.png"]["get"]
    post = paths["/forecast/plot"]["post"]
    for operation in (get, post):
        assert "image/png" in operation["responses"]["200"]["content"]


def card(history: History) -> ModelCard:
    identity = Scaler(kind="none", offset=[0.0], scale=[1.0])
    return ModelCard(
        model_name="unit",
        version=3,
        created_at=datetime.now(UTC),
        spec=TrainSpec(window=WindowSpec(length=5)),
        preprocessing=Preprocessing(
            data_kind="series",
            timesteps=5,
            features=1,
            outputs=1,
            window=WindowSpec(length=5),
            x_scaler=identity,
            y_scaler=identity,
        ),
        input_shape=(5, 1),
        metrics=Metrics(),
        history=history,
        epochs_run=len(history.loss),
        stop_reason="epochs",
        train_seconds=0.1,
        train_examples=50,
        data_fingerprint="sha256:0",
        library_versions={},
    )


def test_plot_functions_render_the_requested_size() -> None:
    losses = list(np.geomspace(1.0, 1e-3, 40))
    with_val = card(History(loss=losses, val_loss=[2 * v for v in losses]))
    assert png_size(plots.training_plot(with_val, width=300, height=200)) == (300, 200)
    series = np.sin(0.5 * np.arange(30))
    held_out = plots.HeldOut(series=series, predictions=series[5:, None] + 0.01)
    tall = plots.training_plot(with_val, test=held_out, width=400, height=700)
    assert png_size(tall) == (400, 700)
    empty = card(History(loss=[]))
    assert png_size(plots.training_plot(empty, width=200, height=150)) == (200, 150)
    two = np.column_stack([series, np.cos(0.5 * np.arange(30))])
    png = plots.forecast_plot(
        two,
        two[5:] + 0.01,
        two[:8],
        window_length=5,
        width=777,
        height=333,
        title="unit",
    )
    assert png_size(png) == (777, 333)
    no_forecast = plots.forecast_plot(
        series, series[5:, None], None, window_length=5, width=200, height=150, title="unit"
    )
    assert png_size(no_forecast) == (200, 150)


def test_dated_forecast_plot_has_dates_on_the_x_axis(
    client: TestClient, trained: dict[str, Any]
) -> None:
    body = {"model_name": "shared", "series": sine(12), "horizon": 3, "levels": [80]}
    undated = client.post("/forecast/plot", json=body)
    dated = client.post("/forecast/plot", json={**body, "start": "2024-01-01", "freq": "MS"})
    assert dated.status_code == 200, dated.text
    assert dated.content.startswith(b"\x89PNG")
    assert dated.content != undated.content  # the same lines, other labels under them
