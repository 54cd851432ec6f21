"""The OpenAPI document says what the service does: keys only where they are in force, the
name pattern the validation uses, the data forms, the Allow header of a 405, /ready's 503."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.config import Settings
from service.main import create_app
from service.store.names import MODEL_NAME_PATTERN
from tests.utils import tiny_spec, train_body, wait_for


def document(**settings: Any) -> dict[str, Any]:
    """The document of an app with these settings (no lifespan: nothing is started)."""
    response = TestClient(create_app(Settings(**settings))).get("/openapi.json")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{m.upper()} {p}": op for p, ops in doc["paths"].items() for m, op in ops.items()}


def test_no_key_set_declares_no_security_and_no_401() -> None:
    doc = document()
    assert "securitySchemes" not in doc["components"]
    for name, op in operations(doc).items():
        assert "security" not in op, name
        assert "401" not in op["responses"], name


def test_the_write_key_is_declared_on_writes_only() -> None:
    ops = operations(document(api_key=SecretStr("w")))
    for name in ("POST /train", "DELETE /models/{name}", "DELETE /jobs/{job_id}"):
        assert ops[name]["security"] == [{"WriteKey": []}], name
        assert "401" in ops[name]["responses"]
    for name in ("POST /forecast", "GET /models", "GET /jobs/{job_id}"):
        assert "security" not in ops[name], name
    # A backtest needs the key only with `refit`: optional in the document.
    assert ops["POST /backtest"]["security"] == [{}, {"WriteKey": []}]


def test_the_read_key_is_declared_on_reads_when_set() -> None:
    doc = document(api_key=SecretStr("w"), api_key_read=SecretStr("r"))
    ops = operations(doc)
    assert set(doc["components"]["securitySchemes"]) == {"WriteKey", "ReadKey"}
    for name in ("POST /forecast", "GET /models", "POST /backtest", "POST /forecast/plot"):
        assert ops[name]["security"] == [{"ReadKey": []}], name
    assert ops["POST /train"]["security"] == [{"WriteKey": []}]
    assert "security" not in ops["GET /health"]


def test_path_names_carry_the_pattern_the_validation_uses(client: TestClient) -> None:
    ops = operations(document())
    for name in ("GET /models/{name}", "DELETE /models/{name}/versions/{version}"):
        (param,) = [p for p in ops[name]["parameters"] if p["name"] == "name"]
        assert param["schema"]["pattern"] == MODEL_NAME_PATTERN
        assert param["examples"]["sine"]["value"] == "sine"
    body = document()["components"]["schemas"]["TrainRequest"]["properties"]["model_name"]
    assert body["pattern"] == MODEL_NAME_PATTERN
    # Reserved device names are in the pattern, so a generated client refuses them too.
    for name in ("con", "NUL.txt", "Lpt1", "&", "é"):
        assert not re.fullmatch(MODEL_NAME_PATTERN, name), name
        answer = client.get(f"/models/{name}")
        assert answer.status_code == 422, name
        assert answer.json()["detail"][0]["loc"] == ["path", "name"]
    assert re.fullmatch(MODEL_NAME_PATTERN, "console")
    assert client.get("/models/console").status_code == 404


def test_data_forms_are_one_of() -> None:
    schemas = document()["components"]["schemas"]
    train = schemas["TrainRequest"]["oneOf"]
    assert [f["required"] for f in train] == [
        ["series"],
        ["inputs", "targets"],
        ["inputs", "targets", "test_inputs", "test_targets"],
    ]
    assert train[0]["properties"]["inputs"] == {"type": "null"}
    forecast = schemas["ForecastRequest"]["oneOf"]
    assert [f["required"] for f in forecast] == [
        ["series", "horizon"],
        ["series"],
        ["inputs"],
        ["horizon"],  # the stored history
    ]
    # The examples /docs fills in are still there.
    assert schemas["TrainRequest"]["examples"][0]["model_name"] == "sine"


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/models/demo", "DELETE, GET"),
        ("/models/demo/versions/1", "DELETE, GET, PATCH"),
        ("/jobs/abc", "DELETE, GET"),
        ("/train", "POST"),
    ],
)
def test_405_lists_every_method_of_the_path(client: TestClient, path: str, allow: str) -> None:
    answer = client.request("PUT", path)
    assert answer.status_code == 405
    assert answer.headers["allow"] == allow


def test_ready_serves_without_a_training_worker(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = client.app.state.jobs  # type: ignore[attr-defined]
    monkeypatch.setattr(jobs, "ready", lambda: {"workers": False})
    assert (client.get("/ready").status_code, client.get("/ready").json()) == (
        200,
        {"store": True, "workers": False},
    )
    assert client.get("/ready/training").status_code == 503
    store = client.app.state.store  # type: ignore[attr-defined]
    monkeypatch.setattr(store, "readable", lambda: False)
    assert client.get("/ready").status_code == 503
    responses = operations(document())["GET /ready"]["responses"]
    assert responses["503"]["content"]["application/json"]["schema"]["type"] == "object"


@pytest.mark.parametrize("body", [b'{"model_name": ', b"\xff\xfe not utf-8"])
def test_a_body_that_is_not_json_is_a_documented_400(client: TestClient, body: bytes) -> None:
    answer = client.post("/forecast", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert "400" in operations(document())["POST /forecast"]["responses"]
    if body.startswith(b"{"):
        assert answer.json() == {
            "detail": "the body is not JSON (Expecting value, at 15)",
            "code": "invalid_json",
        }


def test_a_deleted_job_is_gone_and_an_unfinished_one_is_cancelled_first(
    client: TestClient,
) -> None:
    done = client.post("/train", json={**train_body("forgotten"), "async": True}).json()
    wait_for(
        lambda: client.get(f"/jobs/{done['job_id']}").json()["status"] == "succeeded",
        timeout=120,
        what="the job",
    )
    assert client.delete(f"/jobs/{done['job_id']}").json()["status"] == "succeeded"
    assert client.get(f"/jobs/{done['job_id']}").status_code == 404
    assert client.get("/models/forgotten").status_code == 200  # its version stays
    long = {**train_body("long", spec=tiny_spec(epochs=20_000)), "async": True}
    job_id = client.post("/train", json=long).json()["job_id"]
    refused = client.delete(f"/jobs/{job_id}")
    assert (refused.status_code, refused.json()["code"]) == (409, "job_unfinished")
    assert f"POST /jobs/{job_id}/cancel" in refused.json()["detail"]
    assert client.post(f"/jobs/{job_id}/cancel").status_code == 200
    wait_for(
        lambda: client.get(f"/jobs/{job_id}").json()["status"] == "cancelled",
        timeout=120,
        what="the cancel",
    )
    assert client.delete(f"/jobs/{job_id}").status_code == 200


def test_every_path_parameter_has_an_example() -> None:
    """Try it out opens with a value in every path field (GET /jobs/{job_id} had none)."""
    missing = [
        f"{name} {param['name']}"
        for name, op in operations(document()).items()
        for param in op.get("parameters", [])
        if param["in"] == "path" and not (param.get("examples") or param.get("example"))
    ]
    assert missing == []
