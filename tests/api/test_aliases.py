"""Aliases, notes and archives of versions, through HTTP."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.utils import sine, train_body


@pytest.fixture(scope="module")
def two_versions(client: TestClient) -> list[int]:
    versions = []
    for tags in (["first"], None):
        body = train_body("aliased", description="a tiny lstm", tags=tags)
        response = client.post("/train", json=body)
        assert response.status_code == 201, response.text
        versions.append(response.json()["version"])
    return versions


def test_an_alias_is_taken_wherever_a_version_is(
    client: TestClient, two_versions: list[int]
) -> None:
    first, second = two_versions
    put = client.put("/models/aliased/aliases/production", json={"version": first})
    assert put.status_code == 200, put.text
    assert put.json() == {"model_name": "aliased", "alias": "production", "version": first}
    assert client.get("/models/aliased").json()["aliases"]["production"] == first
    body = {"model_name": "aliased", "series": sine(8), "version": "production"}
    assert client.post("/forecast", json=body).json()["version"] == first
    assert client.get("/models/aliased/versions/production").json()["version"] == first
    backtest = {**body, "horizon": 1, "origins": 2}
    assert client.post("/backtest", json=backtest).json()["version"] == first
    # Moved: at once, by a number or by another alias.
    client.put("/models/aliased/aliases/candidate", json={"version": second})
    moved = client.put("/models/aliased/aliases/production", json={"version": "candidate"})
    assert moved.json()["version"] == second
    assert client.post("/forecast", json=body).json()["version"] == second
    plot = client.get("/models/aliased/versions/production/plot.png")
    assert plot.status_code == 200


def test_deleting_an_alias_keeps_its_version(client: TestClient, two_versions: list[int]) -> None:
    client.put("/models/aliased/aliases/gone", json={"version": two_versions[0]})
    deleted = client.delete("/models/aliased/aliases/gone")
    assert deleted.status_code == 200
    assert deleted.json()["version"] == two_versions[0]
    assert "gone" not in client.get("/models/aliased").json()["aliases"]
    again = client.delete("/models/aliased/aliases/gone")
    assert again.status_code == 404
    assert "gone" in again.json()["detail"]


def test_unknown_alias_and_version_are_404(client: TestClient, two_versions: list[int]) -> None:
    body = {"model_name": "aliased", "series": sine(8), "version": "nowhere"}
    response = client.post("/forecast", json=body)
    assert response.status_code == 404
    assert "nowhere" in response.json()["detail"]
    missing = client.put("/models/aliased/aliases/next", json={"version": 999})
    assert missing.status_code == 404
    bad = client.put("/models/aliased/aliases/1abc", json={"version": 1})
    assert bad.status_code == 422


def test_an_alias_to_a_deleted_version_is_404_naming_both(client: TestClient) -> None:
    for _ in range(2):
        assert client.post("/train", json=train_body("dangling")).status_code == 201
    client.put("/models/dangling/aliases/production", json={"version": 1})
    assert client.delete("/models/dangling/versions/1").status_code == 200
    response = client.post(
        "/forecast", json={"model_name": "dangling", "series": sine(8), "version": "production"}
    )
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "production" in detail
    assert "version 1" in detail
    assert "deleted" in detail
    # Still listed, as it points: for its owner to move it.
    assert client.get("/models/dangling").json()["aliases"] == {"production": 1}


def test_notes_set_at_training_and_patched(client: TestClient, two_versions: list[int]) -> None:
    first = two_versions[0]
    notes = client.get(f"/models/aliased/versions/{first}").json()["notes"]
    assert notes == {"description": "a tiny lstm", "tags": ["first"]}
    patched = client.patch(f"/models/aliased/versions/{first}", json={"tags": ["prod", "lstm"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["notes"] == {"description": "a tiny lstm", "tags": ["prod", "lstm"]}
    listed = client.get("/models/aliased").json()["versions"][0]["notes"]
    assert listed["tags"] == ["prod", "lstm"]
    refused = client.patch(f"/models/aliased/versions/{first}", json={"tags": [""]})
    assert refused.status_code == 422


def test_archive_holds_the_version_folder(client: TestClient, two_versions: list[int]) -> None:
    response = client.get(f"/models/aliased/versions/{two_versions[0]}/archive")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert {"card.json", "model.keras", "notes.json", "tail.npy"} <= set(names)
    assert client.get("/models/aliased/versions/999/archive").status_code == 404


def test_undated_models_list_no_aliases(client: TestClient, trained: dict[str, Any]) -> None:
    assert client.get("/models/shared").json()["aliases"] == {}
