from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.utils import sine, tiny_spec, train_body, wait_for_job


@pytest.mark.parametrize("preset", ["lstm", "gru", "simple_rnn", "dense"])
def test_every_preset_trains_and_forecasts(client: TestClient, preset: str) -> None:
    name = f"preset-{preset}"
    response = client.post("/train", json=train_body(name, spec=tiny_spec(architecture=preset)))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["model_name"] == name
    assert body["input_shape"] == [5, 1]
    assert body["epochs_run"] == 5
    assert len(body["history"]["loss"]) == 5
    metrics = body["metrics"]
    assert metrics["train_mse"] > 0
    assert metrics["test_mse"] > 0
    assert metrics["naive_mse"] > 0
    forecast = client.post("/forecast", json={"model_name": name, "series": sine(12), "horizon": 3})
    assert forecast.status_code == 200, forecast.text
    assert len(forecast.json()["predictions"]) == 7
    assert len(forecast.json()["forecast"]) == 3


def test_explicit_stack_trains(client: TestClient) -> None:
    layers = [
        {"type": "dense", "units": 4, "activation": "relu"},
        {"type": "simple_rnn", "units": 4, "activation": "relu", "return_sequences": True},
        {"type": "gru", "units": 4, "return_sequences": True},
    ]
    spec = tiny_spec(layers=layers)
    del spec["architecture"], spec["units"]
    response = client.post("/train", json=train_body("stack", spec=spec))
    assert response.status_code == 201, response.text
    card = client.get("/models/stack/versions/1").json()["card"]
    assert [layer["type"] for layer in card["spec"]["layers"]] == ["dense", "simple_rnn", "gru"]


def test_lecture_f_of_x_form_with_inputs_and_targets(client: TestClient) -> None:
    """The lecture's first RNN: x.reshape(-1, 1, 1) -> sin(x), tested on an extrapolation."""
    x = np.arange(0, 20, 0.5)
    x_test = np.arange(18, 30, 0.5)
    body = {
        "model_name": "fx",
        "inputs": x.reshape(-1, 1, 1).tolist(),
        "targets": np.sin(x).tolist(),
        "test_inputs": x_test.reshape(-1, 1, 1).tolist(),
        "test_targets": np.sin(x_test).tolist(),
        "spec": {
            "layers": [{"type": "simple_rnn", "units": 8, "activation": "relu"}],
            "epochs": 5,
            "scaling": "none",
        },
    }
    response = client.post("/train", json=body)
    assert response.status_code == 201, response.text
    metrics = response.json()["metrics"]
    assert metrics["test_mse"] > 0
    assert metrics["naive_mse"] is None  # no last value to repeat for f(x) = y
    assert response.json()["input_shape"] == [1, 1]
    forecast = client.post("/forecast", json={"model_name": "fx", "inputs": [[[1.0]], [[2.0]]]})
    assert forecast.status_code == 200
    assert len(forecast.json()["predictions"]) == 2
    assert forecast.json()["mse"] is None


def test_versions_increment(client: TestClient) -> None:
    versions = [
        client.post("/train", json=train_body("counted")).json()["version"] for _ in range(3)
    ]
    assert versions == [1, 2, 3]


def test_same_seed_same_result_over_http(client: TestClient) -> None:
    first, second = (
        client.post("/train", json=train_body("seeded", spec=tiny_spec(seed=3))).json()
        for _ in range(2)
    )
    assert first["metrics"] == second["metrics"]
    assert first["history"] == second["history"]
    assert second["version"] == first["version"] + 1


def test_card_holds_what_is_needed_to_reproduce(client: TestClient, store_root: Path) -> None:
    version = client.post("/train", json=train_body("carded")).json()["version"]
    card = client.get(f"/models/carded/versions/{version}").json()["card"]
    assert card["spec"]["window"] == {"length": 5, "sampling_rate": 1, "stride": 1}
    assert card["preprocessing"]["x_scaler"]["kind"] == "standard"
    assert card["data_fingerprint"].startswith("sha256:")
    assert {"tensorflow", "keras", "python"} <= set(card["library_versions"])
    assert (store_root / "carded" / str(version) / "model.keras").is_file()
    assert (store_root / "carded" / str(version) / "card.json").is_file()


def test_multivariate_series_with_target_columns(client: TestClient) -> None:
    t = np.arange(60) * 0.3
    series = np.column_stack([np.sin(t), np.cos(t), t / 10]).tolist()
    body = train_body("multi", series=series, test_series=None)
    body["spec"] = tiny_spec(target_columns=[0, 2])
    response = client.post("/train", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["input_shape"] == [5, 3]
    forecast = client.post("/forecast", json={"model_name": "multi", "series": series[:10]})
    assert forecast.status_code == 200
    assert np.array(forecast.json()["predictions"]).shape == (5, 2)
    ahead = client.post("/forecast", json={"model_name": "multi", "series": series, "horizon": 2})
    assert ahead.status_code == 422
    assert ahead.json()["detail"][0]["loc"] == ["body", "horizon"]


def test_validation_fraction_gives_val_loss(client: TestClient) -> None:
    body = train_body("validated", spec=tiny_spec(validation_fraction=0.2))
    response = client.post("/train", json=body)
    assert response.status_code == 201
    assert len(response.json()["history"]["val_loss"]) == 5
    assert response.json()["metrics"]["validation_mse"] > 0


def test_async_train_returns_a_job(client: TestClient) -> None:
    response = client.post("/train", json={**train_body("later"), "async": True})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status_url"] == f"/jobs/{accepted['job_id']}"
    job = wait_for_job(client, accepted["job_id"])
    assert job["status"] == "succeeded"
    assert job["result"]["model_name"] == "later"
    assert job["progress"]["epoch"] == 5
    listed = client.get("/jobs").json()
    assert accepted["job_id"] in [j["job_id"] for j in listed["data"]]


def test_cancelled_job_stores_nothing(client: TestClient) -> None:
    body = {**train_body("cancelled", spec=tiny_spec(epochs=20_000)), "async": True}
    job_id = client.post("/train", json=body).json()["job_id"]
    wait_for_job(client, job_id, until=frozenset({"running"}), timeout=60)
    assert client.post(f"/jobs/{job_id}/cancel").status_code == 200
    job = wait_for_job(client, job_id)
    assert job["status"] == "cancelled"
    # Its own code, not a rejected training's: a cancel is not a bad request.
    assert job["error"]["code"] == "job_cancelled"
    assert client.get("/models/cancelled").status_code == 404


def test_unknown_job_is_404(client: TestClient) -> None:
    assert client.get("/jobs/nope").status_code == 404


def test_diverging_training_fails_and_stores_nothing(client: TestClient, store_root: Path) -> None:
    from tests.utils import store_listing

    before = store_listing(store_root)
    body = train_body(
        "diverges",
        series=[1e4 * v for v in sine(60)],
        test_series=None,
        spec=tiny_spec(optimizer="sgd", learning_rate=10.0, scaling="none", epochs=50),
    )
    response = client.post("/train", json=body)
    assert response.status_code == 422, response.text
    assert "diverged" in response.json()["detail"][0]["msg"]
    assert response.json()["detail"][0]["loc"] == ["body", "spec"]
    assert store_listing(store_root) == before
