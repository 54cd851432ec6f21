from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.utils import sine, train_body


def train(client: TestClient, name: str) -> int:
    response = client.post("/train", json=train_body(name))
    assert response.status_code == 201, response.text
    version: int = response.json()["version"]
    return version


def test_list_and_describe(client: TestClient) -> None:
    train(client, "listed")
    train(client, "listed")
    models = client.get("/models").json()
    entry = next(m for m in models["data"] if m["model_name"] == "listed")
    assert entry["latest_version"] == 2
    assert entry["versions"] == 2
    assert entry["created_at"]
    assert models["count"] == len(models["data"])
    detail = client.get("/models/listed").json()
    assert [v["version"] for v in detail["versions"]] == [1, 2]
    assert all(v["status"] == "ok" for v in detail["versions"])
    assert detail["versions"][0]["card"]["input_shape"] == [5, 1]


def test_delete_a_version_then_the_model(client: TestClient, store_root: Path) -> None:
    for _ in range(2):
        train(client, "doomed")
    assert (
        client.post("/forecast", json={"model_name": "doomed", "series": sine(6)}).json()["version"]
        == 2
    )
    response = client.delete("/models/doomed/versions/2")
    assert response.status_code == 200
    assert response.json() == {"model_name": "doomed", "versions": [2]}
    assert client.get("/models/doomed/versions/2").status_code == 404
    # The latest is now 1 and serving follows; the cached version 2 is gone.
    assert (
        client.post("/forecast", json={"model_name": "doomed", "series": sine(6)}).json()["version"]
        == 1
    )
    assert (
        client.post(
            "/forecast", json={"model_name": "doomed", "series": sine(6), "version": 2}
        ).status_code
        == 404
    )
    assert client.delete("/models/doomed").json()["versions"] == [1]
    assert client.get("/models/doomed").status_code == 404
    assert "doomed" not in [m["model_name"] for m in client.get("/models").json()["data"]]
    assert not (store_root / "doomed" / "1").exists()


def test_version_numbers_are_never_reused(client: TestClient) -> None:
    assert train(client, "reborn") == 1
    assert train(client, "reborn") == 2
    client.delete("/models/reborn/versions/2")
    assert train(client, "reborn") == 3
    client.delete("/models/reborn")
    assert train(client, "reborn") == 4


def test_unknown_names_and_versions_are_404(client: TestClient) -> None:
    assert client.get("/models/ghost").status_code == 404
    assert client.delete("/models/ghost").status_code == 404
    train(client, "single")
    assert client.get("/models/single/versions/9").status_code == 404
    assert client.delete("/models/single/versions/9").status_code == 404


def test_broken_version_is_reported_and_others_keep_serving(
    client: TestClient, store_root: Path
) -> None:
    train(client, "fragile")
    train(client, "fragile")
    (store_root / "fragile" / "2" / "card.json").write_text("{not json")
    detail = client.get("/models/fragile").json()
    statuses = {v["version"]: v["status"] for v in detail["versions"]}
    assert statuses == {1: "ok", 2: "broken"}
    assert "fragile@2" in detail["versions"][1]["error"]
    broken = client.post("/forecast", json={"model_name": "fragile", "series": sine(6)})
    assert broken.status_code == 409
    assert "fragile@2" in broken.json()["detail"]
    ok = client.post("/forecast", json={"model_name": "fragile", "series": sine(6), "version": 1})
    assert ok.status_code == 200
    assert client.get("/models").status_code == 200


def test_corrupt_weights_give_409_not_500(client: TestClient, store_root: Path) -> None:
    train(client, "garbled")
    (store_root / "garbled" / "1" / "model.onnx").write_bytes(b"not a model")
    response = client.post("/forecast", json={"model_name": "garbled", "series": sine(6)})
    assert response.status_code == 409
    assert "garbled@1" in response.json()["detail"]


def test_version_without_exports_is_served_through_numpy_then_keras(
    client: TestClient, store_root: Path
) -> None:
    train(client, "keras-only")
    with_onnx = client.post("/forecast", json={"model_name": "keras-only", "series": sine(9)})
    client.delete("/models/keras-only/versions/1")
    train(client, "keras-only")
    (store_root / "keras-only" / "2" / "model.onnx").unlink()
    by_numpy = client.post("/forecast", json={"model_name": "keras-only", "series": sine(9)})
    client.delete("/models/keras-only/versions/2")
    train(client, "keras-only")
    (store_root / "keras-only" / "3" / "model.onnx").unlink()
    (store_root / "keras-only" / "3" / "model.npz").unlink()
    by_keras = client.post("/forecast", json={"model_name": "keras-only", "series": sine(9)})
    # Same seed, same data: the same network, whichever runtime serves it.
    for response in (by_numpy, by_keras):
        assert response.status_code == 200
        assert response.json()["predictions"] == pytest.approx(
            with_onnx.json()["predictions"], rel=1e-5
        )
    client.delete("/models/keras-only/versions/3")  # evicts the loaded copy
    train(client, "keras-only")
    (store_root / "keras-only" / "4" / "model.onnx").unlink()
    (store_root / "keras-only" / "4" / "model.npz").unlink()
    (store_root / "keras-only" / "4" / "model.keras").write_bytes(b"garbage")
    broken = client.post("/forecast", json={"model_name": "keras-only", "series": sine(9)})
    assert broken.status_code == 409
