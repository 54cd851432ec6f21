"""The README's first examples work as written: the training is stored, the forecast after it
answers the intervals it asks for, and the sample error is the service's own answer."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def curl_bodies(route: str) -> list[dict[str, Any]]:
    """The JSON bodies of the README's `curl ... <route>` examples, in order (not those
    abridged with `...`)."""
    pattern = re.compile(r"curl -s -X POST http://127\.0\.0\.1:8000" + route + r" .*?-d '(.*?)'\n",
                         re.S)  # fmt: skip
    return [json.loads(body) for body in pattern.findall(README) if "..." not in body]


@pytest.mark.slow
def test_the_first_model_can_answer_levels(client: TestClient) -> None:
    train = curl_bodies("/train")[0]
    train["spec"]["epochs"] = 30  # the example's own defaults train longer; the data decide here
    trained = client.post("/train", json=train)
    assert trained.status_code == 201, trained.text
    forecast = curl_bodies("/forecast")[0]
    assert forecast["levels"] == [80, 95]
    answer = client.post("/forecast", json=forecast)
    assert answer.status_code == 200, answer.text
    intervals = answer.json()["intervals"]
    assert [i["level"] for i in intervals] == [80, 95]
    assert all(len(i["lower"]) == forecast["horizon"] for i in intervals)


def test_the_sample_error_is_what_the_service_answers(client: TestClient) -> None:
    [_, bad] = curl_bodies("/forecast")[:2]
    answer = client.post("/forecast", json=bad)
    assert answer.status_code == 422
    messages = [e["msg"] for e in answer.json()["detail"]]
    assert any("did you mean `horizon`?" in m for m in messages)
    assert any("did you mean 90?" in m for m in messages)
