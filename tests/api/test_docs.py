from __future__ import annotations

import re

from fastapi.testclient import TestClient


def asset_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html) + re.findall(
        r"""url:\s*['"]([^'"]+)['"]""", html
    )


def test_docs_and_redoc_use_only_local_assets(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.status_code == 200
        urls = asset_urls(response.text)
        assert urls, f"{page} references no assets"
        for url in urls:
            assert url.startswith("/"), f"{page} loads {url} from outside the service"
            assert client.get(url).status_code == 200, url
        assert "cdn" not in response.text.lower()
        assert "fonts.googleapis" not in response.text


def test_openapi_has_a_worked_example_for_every_request_and_response(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    for name in ("TrainRequest", "TrainResult", "ForecastRequest", "ForecastResult"):
        assert components[name].get("examples"), f"{name} has no example"
    train_example = components["TrainRequest"]["examples"][0]
    assert len(train_example["series"]) == 200  # the lecture's sin(x), x in [0, 100)
    assert {"/train", "/forecast", "/models", "/models/{name}", "/jobs/{job_id}"} <= set(
        schema["paths"]
    )


def test_the_docs_examples_train_and_forecast_as_they_are(client: TestClient) -> None:
    """What "Try it out" sends without editing: 201, then a forecast with a horizon."""
    components = client.get("/openapi.json").json()["components"]["schemas"]
    train_example = dict(components["TrainRequest"]["examples"][0])
    train_example["model_name"] = "docs-example"
    train_example["spec"] = {**train_example["spec"], "epochs": 20}  # keep the suite quick
    assert client.post("/train", json=train_example).status_code == 201
    forecast_example = {
        **components["ForecastRequest"]["examples"][0],
        "model_name": "docs-example",
    }
    response = client.post("/forecast", json=forecast_example)
    assert response.status_code == 200
    assert len(response.json()["forecast"]) == forecast_example["horizon"]
