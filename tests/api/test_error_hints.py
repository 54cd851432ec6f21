"""Errors that say how to fix: the intended name of a misspelt field, one error per field at
the field's own location, missing values named as such, a body sent without its content type."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.utils import sine, tiny_spec, train_body


def detail(response: object) -> list[dict[str, object]]:
    assert response.status_code == 422, response.text  # type: ignore[attr-defined]
    found: list[dict[str, object]] = response.json()["detail"]  # type: ignore[attr-defined]
    return found


def test_a_typo_names_the_field_meant(client: TestClient) -> None:
    [error] = detail(
        client.post("/forecast", json={"model_name": "m", "series": [1.0], "horizn": 2})
    )
    assert error["loc"] == ["body", "horizn"]
    assert "did you mean `horizon`?" in str(error["msg"])
    body = train_body("typo", spec={**tiny_spec(), "epoch": 3})
    [error] = detail(client.post("/train", json=body))
    assert error["loc"] == ["body", "spec", "epoch"]
    assert "did you mean `epochs`?" in str(error["msg"])


def test_a_wrong_preset_is_one_error_at_the_field(client: TestClient) -> None:
    body = train_body("caps", spec={**tiny_spec(), "architecture": "LSTM"})
    [error] = detail(client.post("/train", json=body))
    assert error["loc"] == ["body", "spec", "architecture"]
    assert "'lstm'" in str(error["msg"])


def test_null_in_a_series_is_named_a_missing_value(client: TestClient) -> None:
    series: list[float | None] = [*sine(30)]
    series[7] = None
    [error] = detail(client.post("/train", json=train_body("gaps", series=series)))
    assert error["loc"] == ["body", "series"]
    assert "series[7] is null: missing values are not accepted" in str(error["msg"])


def test_a_body_without_content_type_says_so(client: TestClient) -> None:
    answer = client.post("/train", content=b'{"model_name": "x", "series": [1.0]}')
    [error] = detail(answer)
    assert "Content-Type: application/json" in str(error["msg"])


def test_a_series_shorter_than_the_window_is_located_at_the_series(client: TestClient) -> None:
    body = train_body("short", series=sine(8), spec={**tiny_spec(), "window": {"length": 10}})
    [error] = detail(client.post("/train", json=body))
    assert error["loc"] == ["body", "series"]
    assert "spec.window.length 10 needs at least 11" in str(error["msg"])
