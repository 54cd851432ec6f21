"""The client with pandas: a dated DataFrame in, a DataFrame of dated forecasts out."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast_client import ForecastClient, RequestFailed
from tests.utils import tiny_spec


def monthly(n: int = 60) -> pd.DataFrame:
    index = pd.date_range("2019-01-01", periods=n, freq="MS")
    values = 10 + np.sin(2 * np.pi * np.arange(n) / 12)
    return pd.DataFrame({"sales": values}, index=index)


@pytest.mark.slow
def test_pandas_round_trip(client: TestClient, tmp_path: Path) -> None:
    api = ForecastClient(http=client)
    data = monthly()
    data.iloc[7, 0] = np.nan  # a gap, filled by the service
    spec = tiny_spec(interval_horizon=12, calibration_origins=5)
    trained = api.train("frames", series=data, spec=spec, missing="interpolate")
    assert trained["freq"] == "MS"
    assert trained["missing_filled"] == 1
    assert trained["season_source"] == "freq"

    frame = api.forecast_frame("frames", data.iloc[-24:], horizon=12)
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == 12
    assert list(frame.index) == list(pd.date_range("2024-01-01", periods=12, freq="MS"))
    assert list(frame.columns) == ["sales", "lower_80", "upper_80", "lower_95", "upper_95"]
    assert (frame["lower_95"] <= frame["lower_80"]).all()
    assert (frame["lower_80"] <= frame["sales"]).all()
    assert (frame["sales"] <= frame["upper_80"]).all()
    assert (frame["upper_80"] <= frame["upper_95"]).all()

    stored = api.forecast_frame("frames", horizon=12)  # from the training data's end
    assert stored.index[0] == pd.Timestamp("2024-01-01")
    assert stored["forecast"].to_numpy() == pytest.approx(frame["sales"].to_numpy(), rel=1e-5)

    api.set_alias("frames", "production", trained["version"])
    assert api.forecast("frames", horizon=1, version="production")["version"] == 1
    notes = api.update_notes("frames", "production", description="monthly sales")
    assert notes["notes"]["description"] == "monthly sales"
    archive = api.download("frames", "production", tmp_path / "frames.zip")
    assert "model.keras" in zipfile.ZipFile(archive).namelist()
    api.delete_alias("frames", "production")
    with pytest.raises(RequestFailed) as gone:
        api.forecast("frames", horizon=1, version="production")
    assert gone.value.status_code == 404


def test_a_series_needs_a_datetime_index(client: TestClient) -> None:
    api = ForecastClient(http=client)
    with pytest.raises(TypeError, match="DatetimeIndex"):
        api.forecast("frames", series=pd.Series([1.0, 2.0]), horizon=1)
