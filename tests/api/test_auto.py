from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.forecasting.auto import candidate_specs
from service.forecasting.spec import TrainSpec
from tests.conftest import tiny_spec, train_body


def rising(n: int, start: int = 0) -> list[float]:
    t = np.arange(start, start + n)
    return [float(v) for v in 5 + 0.2 * t + np.sin(t / 2)]


def test_candidates_cover_presets_and_transforms() -> None:
    auto = TrainSpec(architecture="auto", transforms="auto", season_length=12)
    specs = candidate_specs(auto, np.arange(1.0, 50.0))
    chains = {(tuple(t.type for t in s.chain), s.window_normalization) for s in specs}
    assert {s.architecture for s in specs} == {"lstm", "gru", "simple_rnn"}
    assert chains == {
        ((), "none"),
        ((), "last"),
        (("difference",), "none"),
        (("log", "difference"), "none"),
        (("log",), "last"),
        (("seasonal_difference",), "none"),
    }
    assert len(specs) == 18
    # Each holds out its last windows for early stopping unless the spec says otherwise.
    assert {s.validation_fraction for s in specs} == {0.15}
    own = TrainSpec(architecture="auto", validation_fraction=0.3)
    assert {s.validation_fraction for s in candidate_specs(own, np.arange(1.0, 50.0))} == {0.3}
    # No log for data that is not positive; the architecture stays when only transforms are auto.
    fixed = TrainSpec(architecture="gru", transforms="auto")
    specs = candidate_specs(fixed, np.arange(-5.0, 45.0))
    assert [(s.architecture, [t.type for t in s.chain], s.window_normalization) for s in specs] == [
        ("gru", [], "none"),
        ("gru", [], "last"),
        ("gru", ["difference"], "none"),
    ]


@pytest.mark.slow
def test_auto_picks_a_candidate_by_validation_and_stores_it(client: TestClient) -> None:
    spec = tiny_spec(architecture="auto", transforms="auto", epochs=60, window={"length": 6})
    del spec["units"]
    body = train_body("chosen", series=rising(90), test_series=rising(30, start=90), spec=spec)
    response = client.post("/train", json=body)
    assert response.status_code == 201, response.text
    result = response.json()
    board = result["leaderboard"]
    # 3 presets x (none, relative to last, difference, log + difference, log relative to last)
    assert len(board) == 15
    errors = [c["validation_mse"] for c in board]
    assert errors == sorted(errors)
    winner = result["spec"]
    assert winner["architecture"] == board[0]["architecture"]
    assert [t["type"] for t in winner["transforms"]] == board[0]["transforms"]
    assert winner["window_normalization"] == board[0]["window_normalization"]
    card = client.get("/models/chosen/versions/1").json()["card"]
    assert card["spec"]["architecture"] != "auto"
    assert card["leaderboard"] == board
    forecast = client.post(
        "/forecast", json={"model_name": "chosen", "series": rising(30, start=90), "horizon": 5}
    )
    assert forecast.status_code == 200


def test_auto_on_a_series_too_short_to_validate_is_422(client: TestClient) -> None:
    spec = tiny_spec(architecture="auto", window={"length": 5})
    response = client.post("/train", json=train_body("too-short", series=rising(12), spec=spec))
    assert response.status_code == 422
    assert "too short to validate" in response.text
