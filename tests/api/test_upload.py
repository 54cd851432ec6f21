"""Bring your own model through HTTP: a `.keras` file saved by plain Keras, uploaded and served
like a trained version; hostile and unsupported files refused with nothing stored."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.config import Settings
from tests.utils import store_listing
from tests.utils.keras_files import (
    LECTURE_TEST,
    lambda_model,
    lecture_model,
    plain_zip,
    rezipped,
    saved,
    windows,
    zip_bomb,
)

WINDOW = {"length": 20}


def upload(
    client: TestClient, name: str, data: bytes, spec: dict[str, Any] | str | None = None, **kw: Any
) -> Any:
    body = spec if isinstance(spec, str) else json.dumps(spec or {"window": WINDOW})
    return client.post(
        f"/models/{name}/versions",
        files={"file": ("model.keras", data, "application/octet-stream")},
        data={"spec": body},
        **kw,
    )


@pytest.fixture(scope="module")
def lecture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, bytes]:
    path = tmp_path_factory.mktemp("notebook") / "sine.keras"
    model = lecture_model(path)
    return model, path.read_bytes()


@pytest.fixture(scope="module")
def uploaded(client: TestClient, lecture: tuple[Any, bytes]) -> dict[str, Any]:
    """The lecture's model uploaded as `notebook`, with the lecture's test series."""
    _, data = lecture
    spec = {"window": WINDOW, "test_series": LECTURE_TEST.tolist()}
    response = upload(client, "notebook", data, spec)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_upload_is_stored_with_its_origin_and_no_history(
    uploaded: dict[str, Any], lecture: tuple[Any, bytes]
) -> None:
    card = uploaded["card"]
    assert uploaded["status"] == "ok"
    assert card["upload"]["sha256"] == hashlib.sha256(lecture[1]).hexdigest()
    assert card["upload"]["keras_version"].startswith("3.")
    assert card["upload"]["size"] == len(lecture[1])
    assert card["upload"]["uploaded_by"] is None  # no key set
    assert card["history"] == {"loss": [], "val_loss": None, "epochs": None}
    assert (card["epochs_run"], card["stop_reason"]) == (0, "uploaded")
    assert card["input_shape"] == [20, 1]
    assert card["spec"]["layers"] == [
        {"type": "lstm", "units": 4, "activation": "tanh", "return_sequences": False}
    ]
    # Measured on the test series beside the baselines, as for a trained model.
    assert card["metrics"]["test_mse"] > 0
    assert card["metrics"]["naive_mse"] > 0
    assert card["calibration"]["source"] == "test_series"


def test_stored_file_is_the_upload_and_served_without_keras(
    uploaded: dict[str, Any], lecture: tuple[Any, bytes], store_root: Path
) -> None:
    folder = store_root / "notebook" / str(uploaded["version"])
    assert (folder / "model.keras").read_bytes() == lecture[1]
    assert (folder / "model.onnx").is_file()  # exported from its weights, checked on probes
    assert (folder / "model.npz").is_file()


def test_forecast_equals_keras_predict(
    client: TestClient, uploaded: dict[str, Any], lecture: tuple[Any, bytes]
) -> None:
    model, _ = lecture
    body = {"model_name": "notebook", "series": LECTURE_TEST.tolist()}
    response = client.post("/forecast", json=body)
    assert response.status_code == 200, response.text
    predictions = np.asarray(response.json()["predictions"]).ravel()
    expected = model.predict(windows(LECTURE_TEST, 20), verbose=0).ravel()
    # 1e-6 relative to the outputs' scale: ONNX Runtime's and TensorFlow's float32 kernels
    # differ by a few 1e-8, which is more than 1e-6 of the values that pass close to zero.
    scale = np.abs(expected).max()
    np.testing.assert_allclose(predictions, expected, rtol=1e-6, atol=1e-6 * scale)


def test_horizon_intervals_backtest_and_plot_serve_the_upload(
    client: TestClient, uploaded: dict[str, Any]
) -> None:
    series = LECTURE_TEST[:60].tolist()
    body = {"model_name": "notebook", "series": series, "horizon": 8, "levels": [90]}
    forecast = client.post("/forecast", json=body)
    assert forecast.status_code == 200, forecast.text
    band = forecast.json()["intervals"][0]
    assert len(band["lower"]) == 8
    assert np.all(np.asarray(band["upper"]) > np.asarray(band["lower"]))
    backtest = client.post(
        "/backtest", json={"model_name": "notebook", "series": series, "horizon": 5}
    )
    assert backtest.status_code == 200, backtest.text
    assert len(backtest.json()["origins"]) > 0
    assert backtest.json()["model"]["mse"] > 0
    plot = client.post("/forecast/plot", json={"model_name": "notebook", "series": series})
    assert plot.status_code == 200
    assert plot.content.startswith(b"\x89PNG")


def test_what_needs_a_training_says_it_was_uploaded(
    client: TestClient, uploaded: dict[str, Any]
) -> None:
    version = uploaded["version"]
    loss = client.get(f"/models/notebook/versions/{version}/plot.png")
    assert loss.status_code == 409
    assert "uploaded" in loss.json()["detail"]
    refit = client.post(
        "/backtest",
        json={
            "model_name": "notebook",
            "series": LECTURE_TEST.tolist(),
            "horizon": 5,
            "refit": True,
            "origins": 2,
        },
    )
    assert refit.status_code == 409
    assert "refit=false" in refit.json()["detail"]


def test_two_concurrent_uploads_get_two_versions(
    client: TestClient, lecture: tuple[Any, bytes]
) -> None:
    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda _: upload(client, "twice", lecture[1]), range(2)))
    assert [r.status_code for r in responses] == [201, 201]
    assert sorted(r.json()["version"] for r in responses) == [1, 2]
    listed = client.get("/models/twice").json()["versions"]
    assert [v["status"] for v in listed] == ["ok", "ok"]


def test_who_uploaded_is_recorded_by_key_fingerprint(
    client: TestClient,
    lecture: tuple[Any, bytes],
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
) -> None:
    monkeypatch.setattr(settings, "api_key", SecretStr("s3cret"))
    assert upload(client, "keyed", lecture[1]).status_code == 401
    response = upload(client, "keyed", lecture[1], headers={"X-API-Key": "s3cret"})
    assert response.status_code == 201, response.text
    digest = hashlib.sha256(b"s3cret").hexdigest()[:16]
    assert response.json()["card"]["upload"]["uploaded_by"] == f"api key sha256:{digest}"


def test_scaling_and_target_columns_are_applied(
    client: TestClient, lecture: tuple[Any, bytes]
) -> None:
    """A model trained on standardised data, declared so, forecasts in the series' units."""
    model, data = lecture
    spec = {"window": WINDOW, "scaling": {"kind": "standard", "offset": [1.0], "scale": [2.0]}}
    response = upload(client, "scaled", data, spec)
    assert response.status_code == 201, response.text
    series = 1.0 + 2.0 * LECTURE_TEST[:40]
    body = client.post("/forecast", json={"model_name": "scaled", "series": series.tolist()})
    expected = 1.0 + 2.0 * model.predict(windows(LECTURE_TEST[:40], 20), verbose=0).ravel()
    got = np.asarray(body.json()["predictions"]).ravel()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


# Refusals: each a 4xx naming the problem, with the store as it was.


@pytest.fixture
def unchanged(store_root: Path, uploaded: dict[str, Any]) -> Any:
    before = store_listing(store_root)
    yield
    assert store_listing(store_root) == before


def refused(response: Any, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    detail = json.dumps(response.json()["detail"])
    for word in words:
        assert word in detail, detail


@pytest.mark.usefixtures("unchanged")
def test_random_bytes_are_refused(client: TestClient) -> None:
    data = np.random.default_rng(0).bytes(4096)
    refused(upload(client, "hostile", data), 422, "not a zip file", '"file"')


@pytest.mark.usefixtures("unchanged")
def test_a_zip_that_is_not_a_keras_archive_is_refused(client: TestClient) -> None:
    data = plain_zip(**{"notes.txt": b"hello", "config.json": b"{}"})
    refused(upload(client, "hostile", data), 422, "not a Keras 3 .keras archive", "metadata.json")


@pytest.mark.usefixtures("unchanged")
def test_a_zip_bomb_is_refused(
    client: TestClient,
    lecture: tuple[Any, bytes],
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
) -> None:
    monkeypatch.setattr(settings, "max_upload_bytes", 64 * 1024)
    bomb = zip_bomb(lecture[1], unpacked=16 * 2**20)
    assert len(bomb) < 64 * 1024
    refused(upload(client, "hostile", bomb), 422, "zip bomb", "more than 262144")


@pytest.mark.usefixtures("unchanged")
def test_an_oversize_file_is_refused(
    client: TestClient,
    lecture: tuple[Any, bytes],
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
) -> None:
    monkeypatch.setattr(settings, "max_upload_bytes", 4096)
    refused(upload(client, "hostile", lecture[1]), 413, "FORECAST_MAX_UPLOAD_BYTES")


@pytest.mark.usefixtures("unchanged")
def test_a_path_traversal_member_is_refused(client: TestClient, lecture: tuple[Any, bytes]) -> None:
    for name in ("../../etc/cron.d/x", "/etc/passwd", "assets/../../x", "C:\\x"):
        data = rezipped(lecture[1], **{name: b"x"})
        refused(upload(client, "hostile", data), 422, "not a plain path inside the archive")


@pytest.mark.usefixtures("unchanged")
def test_a_lambda_layer_is_refused(client: TestClient, tmp_path: Path) -> None:
    refused(upload(client, "hostile", lambda_model(tmp_path / "l.keras")), 422, "Lambda layer")


@pytest.mark.usefixtures("unchanged")
def test_a_conv2d_model_is_refused(client: TestClient, tmp_path: Path) -> None:
    import keras

    data = saved(
        tmp_path / "c.keras",
        keras.layers.Conv2D(2, 3),
        keras.layers.Flatten(),
        keras.layers.Dense(1),
        inputs=(8, 8, 1),
    )
    refused(upload(client, "hostile", data), 422, "Conv2D", "supported layers")


@pytest.mark.usefixtures("unchanged")
def test_an_input_shape_unlike_the_window_is_refused(
    client: TestClient, lecture: tuple[Any, bytes]
) -> None:
    response = upload(client, "hostile", lecture[1], {"window": {"length": 10}})
    refused(response, 422, "20 timesteps", "spec.window")
    sampled = {"window": {"length": 40, "sampling_rate": 2}}  # 20 timesteps: fits
    assert upload(client, "hostile", lecture[1], {**sampled, "scaling": "bad"}).status_code == 422


@pytest.mark.usefixtures("unchanged")
def test_models_the_worker_finds_unsupported_are_refused(
    client: TestClient, tmp_path: Path
) -> None:
    """Allowed layer classes with options the serving paths lack: refused after loading."""
    import keras

    layers = keras.layers
    cases = {
        "reset_after=False": layers.GRU(3, reset_after=False),
        "go_backwards": layers.LSTM(3, go_backwards=True),
        "outputs a sequence": layers.LSTM(3, return_sequences=True),
        "outputs 2 values per window": layers.LSTM(3),
    }
    for index, (words, layer) in enumerate(cases.items()):
        head = layers.Dense(2 if "2 values" in words else 1)
        data = saved(tmp_path / f"{index}.keras", layer, head)
        refused(upload(client, "hostile", data), 422, words, '"file"')


@pytest.mark.usefixtures("unchanged")
def test_a_bad_spec_part_names_its_field(client: TestClient, lecture: tuple[Any, bytes]) -> None:
    response = upload(client, "hostile", lecture[1], "{not json")
    refused(response, 422, '"spec"')
    response = upload(client, "hostile", lecture[1], {"window": {"length": 0}})
    refused(response, 422, '"window"', '"length"')
    response = upload(
        client, "hostile", lecture[1], {"window": WINDOW, "test_series": [[1, 2]] * 30}
    )
    refused(response, 422, "spec.test_series", "2 features")
    missing = client.post("/models/hostile/versions", data={"spec": "{}"})
    refused(missing, 422, '"file"')


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        (
            {"scaling": {"kind": "standard", "offset": [0.0], "scale": [0.0]}},
            "spec.scaling",
            "scale not 0",
        ),
        (
            {"scaling": {"kind": "standard", "offset": [0.0, 1.0], "scale": [1.0]}},
            "spec.scaling",
            "one number per column",
        ),
        ({"target_columns": [1, 0]}, "spec.target_columns", "increasing order"),
        ({"transforms": [{"type": "smoothing"}]}, "spec.transforms.0", "fitted parameters"),
        (
            {"transforms": [{"type": "difference"}, {"type": "smoothing"}]},
            "spec.transforms",
            "smoothing goes first",
        ),
        ({"test_series": [0.5] * 15}, "spec.test_series", "needs at least 21"),
    ],
)
@pytest.mark.usefixtures("unchanged")
def test_an_inconsistent_declared_preprocessing_is_refused_before_loading(
    client: TestClient, lecture: tuple[Any, bytes], spec: dict[str, Any], field: str, words: str
) -> None:
    response = upload(client, "hostile", lecture[1], {"window": WINDOW, **spec})
    refused(response, 422, field, words)


@pytest.mark.usefixtures("unchanged")
def test_a_custom_object_inside_an_allowed_layer_is_refused(
    client: TestClient, tmp_path: Path
) -> None:
    import keras

    @keras.saving.register_keras_serializable(package="notebook")  # type: ignore[untyped-decorator]
    def doubled_tanh(x: Any) -> Any:
        return keras.ops.tanh(x) * 2.0

    data = saved(tmp_path / "f.keras", keras.layers.LSTM(3, activation=doubled_tanh))
    refused(upload(client, "hostile", data), 422, "layer 'lstm", "refused")
