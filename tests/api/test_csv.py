"""text/csv bodies on /train and /forecast: columns named by query parameters."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.utils import sine, tiny_spec

CSV = {"Content-Type": "text/csv"}


def table(values: list[Any], *, start: str = "2020-01-01", freq: str = "MS") -> str:
    dates = pd.date_range(start, periods=len(values), freq=freq)
    rows = [
        f"{d.date().isoformat()},{'' if v is None else v}"
        for d, v in zip(dates, values, strict=True)
    ]
    return "month,sales\n" + "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def csv_model(client: TestClient) -> dict[str, Any]:
    params = {
        "model_name": "from-csv",
        "timestamp_column": "month",
        "spec": json.dumps(tiny_spec()),
        "missing": "interpolate",
    }
    values: list[Any] = sine(40)
    values[7] = None
    response = client.post("/train", params=params, content=table(values), headers=CSV)
    assert response.status_code == 201, response.text
    return response.json()


def test_train_on_a_csv(csv_model: dict[str, Any]) -> None:
    assert csv_model["freq"] == "MS"
    assert csv_model["missing_filled"] == 1
    assert csv_model["input_shape"] == [5, 1]


def test_forecast_a_csv_gives_what_the_json_gives(
    client: TestClient, csv_model: dict[str, Any]
) -> None:
    params = {"model_name": "from-csv", "timestamp_column": "month", "horizon": 3, "levels": "80"}
    response = client.post("/forecast", params=params, content=table(sine(10)), headers=CSV)
    assert response.status_code == 200, response.text
    body = {"model_name": "from-csv", "series": sine(10), "horizon": 3, "levels": [80]}
    from_json = client.post("/forecast", json={**body, "start": "2020-01-01", "freq": "MS"})
    assert response.json() == from_json.json()
    assert response.json()["forecast_timestamps"][0] == "2020-11-01T00:00:00"


@pytest.mark.parametrize(
    ("params", "text", "words"),
    [
        (
            {"timestamp_column": "month"},
            "month,sales\n2020-01-01,1\n2020-02-01,abc\n",
            ["row 2", "'sales'", "'abc'"],
        ),
        ({"timestamp_column": "day"}, "month,sales\n2020-01-01,1\n", ["timestamp_column", "'day'"]),
        ({"value_columns": "price"}, "month,sales\n2020-01-01,1\n", ["'price'"]),
        ({}, "month,sales\n2020-01-01,1,3\n", ["row 1", "3 cells"]),
        ({}, "month,sales\n", ["header row"]),
        (
            {"timestamp_column": "month"},
            "month,sales\n2020-01-01,1\n2020-01-01,2\n2020-03-01,3\n2020-04-01,4\n2020-05-01,5\n2020-06-01,6\n",
            ["timestamps[1]", "repeats"],
        ),
    ],
)
def test_a_bad_csv_is_422_naming_row_and_column(
    client: TestClient,
    csv_model: dict[str, Any],
    params: dict[str, Any],
    text: str,
    words: list[str],
) -> None:
    query = {"model_name": "from-csv", **params}
    response = client.post("/forecast", params=query, content=text, headers=CSV)
    assert response.status_code == 422, response.text
    for word in words:
        assert word in response.text


def test_csv_needs_the_model_name(client: TestClient) -> None:
    response = client.post("/forecast", content="a\n1\n", headers=CSV)
    assert response.status_code == 422
    assert "model_name" in response.text


def test_openapi_documents_the_csv_body(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/train", "/forecast"):
        operation = paths[path]["post"]
        assert operation["requestBody"]["content"]["text/csv"]["schema"] == {"type": "string"}
        assert "application/json" in operation["requestBody"]["content"]
        names = {p["name"] for p in operation["parameters"]}
        assert {"model_name", "timestamp_column", "value_columns"} <= names
