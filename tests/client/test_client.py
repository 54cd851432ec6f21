from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import forecast_client
from forecast_client import ForecastClient, RequestFailed
from service.jobs.status import FINISHED, JobStatus
from tests.utils import sine, tiny_spec
from tests.utils.keras_files import LECTURE_TEST, lecture_model, windows


def test_the_client_knows_the_services_job_statuses() -> None:
    assert {status.value for status in FINISHED} == forecast_client.FINISHED
    assert JobStatus.succeeded.value == forecast_client.SUCCEEDED


def test_round_trip_train_forecast_delete(client: TestClient) -> None:
    api = ForecastClient(http=client)
    result = api.train("via-client", series=sine(40), spec=tiny_spec())
    assert result["version"] == 1
    forecast = api.forecast("via-client", series=sine(10), horizon=3)
    assert len(forecast["predictions"]) == 5
    assert len(forecast["forecast"]) == 3
    backtest = api.backtest("via-client", series=sine(20), horizon=2, origins=3)
    assert backtest["origins"] == [16, 17, 18]
    assert backtest["refit"] is False
    assert "via-client" in [m["model_name"] for m in api.models()]
    job_id = api.train_async("via-client", series=sine(40), spec=tiny_spec())
    assert api.wait(job_id)["version"] == 2
    assert api.delete("via-client", 1)["versions"] == [1]
    assert [v["version"] for v in api.model("via-client")["versions"]] == [2]
    assert api.delete("via-client")["versions"] == [2]


def test_errors_are_typed(client: TestClient) -> None:
    api = ForecastClient(http=client)
    with pytest.raises(RequestFailed) as missing:
        api.forecast("no-such-model", series=sine(10))
    assert missing.value.status_code == 404
    with pytest.raises(RequestFailed) as invalid:
        api.train("bad", series=[1.0, 2.0])
    assert invalid.value.status_code == 422


def test_waiting_on_a_cancelled_job_raises_job_cancelled(client: TestClient) -> None:
    api = ForecastClient(http=client)
    job_id = api.train_async("cancel-me", series=sine(40), spec=tiny_spec(epochs=20_000))
    api.cancel(job_id)
    with pytest.raises(forecast_client.JobCancelled) as raised:
        api.wait(job_id, timeout=120)
    assert raised.value.status_code == 409
    assert raised.value.detail["code"] == "job_cancelled"


def test_upload_a_saved_keras_file(client: TestClient, tmp_path: Path) -> None:
    path = tmp_path / "sine.keras"
    model = lecture_model(path, epochs=1)
    api = ForecastClient(http=client)
    stored = api.upload("client-upload", path, window=20, test_series=list(LECTURE_TEST))
    assert stored["card"]["upload"]["filename"] == "sine.keras"
    assert stored["card"]["metrics"]["test_mse"] is not None
    forecast = api.forecast("client-upload", series=list(LECTURE_TEST[:30]), horizon=2)
    expected = model.predict(windows(LECTURE_TEST[:30], 20), verbose=0).ravel()
    scale = np.abs(expected).max()  # float32 kernels: 1e-6 of the outputs' scale, not of each
    got = np.asarray(forecast["predictions"]).ravel()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6 * scale)
    with pytest.raises(RequestFailed) as wrong:
        api.upload("client-upload", path, window={"length": 5})
    assert wrong.value.status_code == 422
    assert "spec.window" in str(wrong.value.detail)
