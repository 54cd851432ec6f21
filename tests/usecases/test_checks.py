"""The limits live in settings only: each is enforced from there, and raising one raises it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from service.errors import InvalidInput
from service.schemas.train import TrainRequest
from service.usecases.checks import check_train_request
from tests.utils import tiny_spec, train_body

DENSE = {"type": "dense", "units": 2}


def request(**spec: Any) -> TrainRequest:
    return TrainRequest.model_validate(train_body("limits", spec=tiny_spec(**spec)))


@pytest.mark.parametrize(
    ("spec", "setting", "field", "raised"),
    [
        ({"epochs": 25_000}, "max_epochs", "spec.epochs", 30_000),
        ({"units": 2048}, "max_units", "spec.units", 4096),
        (
            {"architecture": None, "units": None, "layers": [DENSE] * 9},
            "max_layers",
            "spec.layers",
            9,
        ),
    ],
)
def test_a_limit_is_the_settings_and_raising_it_raises_it(
    spec: dict[str, Any], setting: str, field: str, raised: int
) -> None:
    body = request(**spec)  # past the default limit, and still a valid request shape
    with pytest.raises(InvalidInput, match=f"FORECAST_{setting.upper()}") as refused:
        check_train_request(body, Settings())
    assert refused.value.field == field
    check_train_request(body, Settings.model_validate({setting: raised, "max_training_work": 1e15}))


def test_a_lowered_limit_is_enforced() -> None:
    body = request(epochs=5)
    check_train_request(body, Settings())
    with pytest.raises(InvalidInput, match=r"spec\.epochs is 5, the limit is 4"):
        check_train_request(body, Settings(max_epochs=4))


def test_the_limit_reaches_http_as_a_422_naming_the_field(client: TestClient) -> None:
    response = client.post("/train", json=train_body("limits", spec=tiny_spec(epochs=25_000)))
    assert response.status_code == 422
    [detail] = response.json()["detail"]
    assert detail["loc"] == ["body", "spec.epochs"]
    assert "FORECAST_MAX_EPOCHS" in detail["msg"]


@pytest.mark.slow
def test_an_app_with_a_raised_limit_trains_what_the_default_refuses(
    client: TestClient, tmp_path: Any
) -> None:
    from service.main import create_app

    nine = train_body(
        "nine-layers", spec=tiny_spec(architecture=None, units=None, layers=[DENSE] * 9, epochs=2)
    )
    assert client.post("/train", json=nine).status_code == 422
    with TestClient(create_app(Settings(store_root=tmp_path, max_layers=9))) as raised:
        response = raised.post("/train", json=nine)
    assert response.status_code == 201, response.text
    assert len(response.json()["spec"]["layers"]) == 9
