"""Bad input gets a 422 naming the field, and never changes the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.utils import sine, store_listing, tiny_spec, train_body

NO_SERIES = {"series": None, "test_series": None}
TWO_COLUMNS = {"series": [[v, -v] for v in sine(60)], "test_series": None}
BAD_TRAIN: list[tuple[str, dict[str, Any], str]] = [
    ("ragged", {"series": [[1.0, 2.0], [3.0]] + [[1.0, 2.0]] * 10}, "series[1] has 1 columns"),
    ("3-D series", {"series": [[[1.0]]] * 10}, "series must be a 1-D array"),
    ("string", {"series": [1.0, "2", 3.0]}, "series[1] is str '2', not a number"),
    ("bool", {"series": [1.0, True] * 10}, "series[1] is bool True, not a number"),
    ("null item", {"series": [1.0, None] * 10}, "series[1] is null: missing values"),
    ("empty", {"series": []}, "series is empty"),
    ("not an array", {"series": 3}, "series must be a 1-D array"),
    ("huge int", {"series": [10**400] * 10}, "too large"),
    ("short", {"series": sine(5)}, "needs at least 6"),
    ("2-D inputs", {**NO_SERIES, "inputs": [[1.0]], "targets": [1.0]}, "inputs must be a 3-D"),
    (
        "targets mismatch",
        {**NO_SERIES, "inputs": [[[1.0]]] * 4, "targets": [1.0] * 3},
        "targets has 3 rows but inputs has 4 windows",
    ),
    ("inputs without targets", {**NO_SERIES, "inputs": [[[1.0]]] * 4}, "need `targets`"),
    (
        "test form differs",
        {"series": None, "inputs": [[[1.0]]] * 4, "targets": [1.0] * 4},
        "a model trained on `inputs` is tested on `test_inputs`",
    ),
    ("both forms", {"inputs": [[[1.0]]] * 4, "targets": [1.0] * 4}, "not both"),
    ("neither form", {"series": None}, "give the data as `series`"),
    ("bad name", {"model_name": "../etc"}, "model_name"),
    ("dot name", {"model_name": ".hidden"}, "model_name"),
    ("bad column", {"spec": tiny_spec(target_columns=[3])}, "spec.target_columns has 3"),
    (
        "repeated columns",
        {**TWO_COLUMNS, "spec": tiny_spec(target_columns=[0, 0])},
        "give each column once, in increasing order",
    ),
    (
        "permuted columns",
        {**TWO_COLUMNS, "spec": tiny_spec(target_columns=[1, 0])},
        "give each column once, in increasing order",
    ),
    (
        "auto with some columns",
        {**TWO_COLUMNS, "spec": tiny_spec(target_columns=[0], architecture="auto")},
        "need a model predicting every column",
    ),
    ("test features", {"test_series": [[1.0, 2.0]] * 10}, "test_series has 2 features"),
    ("zero units", {"spec": tiny_spec(units=0)}, "greater than or equal to 1"),
    ("unknown preset", {"spec": tiny_spec(architecture="transformer")}, "architecture"),
    ("unknown field", {"spec": tiny_spec(colour="blue")}, "colour"),
    ("negative epochs", {"spec": tiny_spec(epochs=-1)}, "epochs"),
]


@pytest.mark.parametrize(("case", "change", "message"), BAD_TRAIN, ids=[c[0] for c in BAD_TRAIN])
def test_bad_train_requests_are_422_and_store_nothing(
    client: TestClient, store_root: Path, case: str, change: dict[str, Any], message: str
) -> None:
    before = store_listing(store_root)
    body = {k: v for k, v in {**train_body("rejected"), **change}.items() if v is not None}
    response = client.post("/train", json=body)
    assert response.status_code == 422, response.text
    assert message in response.text
    assert store_listing(store_root) == before


def test_nan_and_infinity_are_rejected(client: TestClient, store_root: Path) -> None:
    before = store_listing(store_root)
    for literal in ("NaN", "Infinity", "-Infinity"):
        raw = '{"model_name": "nan", "series": [1.0, 2.0, ' + literal + ", 3.0, 4.0, 5.0, 6.0]}"
        response = client.post("/train", content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 422, response.text
        assert "series[2]" in response.text
        assert "not a finite number" in response.text
    assert store_listing(store_root) == before


def test_malformed_json_is_the_documented_400(client: TestClient) -> None:
    response = client.post(
        "/train", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"


BAD_FORECAST: list[tuple[str, dict[str, Any], str]] = [
    ("negative horizon", {"series": sine(8), "horizon": -1}, "horizon"),
    ("targets without inputs", {"series": sine(8), "targets": [1.0]}, "`targets` go with"),
    ("version zero", {"series": sine(8), "version": 0}, "version"),
    ("ragged windows", {"inputs": [[[1.0]] * 5, [[1.0]] * 4]}, "inputs[1] has 4 timesteps"),
    ("ragged features", {"inputs": [[[1.0], [1.0, 2.0]]]}, "inputs[0][1] has 2 features"),
]


@pytest.mark.parametrize(
    ("case", "change", "message"), BAD_FORECAST, ids=[c[0] for c in BAD_FORECAST]
)
def test_bad_forecast_requests_are_422(
    client: TestClient, trained: dict[str, Any], case: str, change: dict[str, Any], message: str
) -> None:
    response = client.post("/forecast", json={"model_name": "shared", **change})
    assert response.status_code == 422, response.text
    assert message in response.text
