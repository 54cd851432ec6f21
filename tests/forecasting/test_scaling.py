from __future__ import annotations

import numpy as np
import pytest

from service.forecasting.scaling import Scaler


@pytest.mark.parametrize("kind", ["none", "standard", "minmax"])
def test_round_trip(kind: str) -> None:
    data = np.random.default_rng(1).normal(5, 3, size=(50, 3))
    scaler = Scaler.fit(kind, data)  # type: ignore[arg-type]
    np.testing.assert_allclose(scaler.inverse(scaler.transform(data)), data, rtol=1e-12)


def test_standard_centres_and_scales_each_column() -> None:
    data = np.column_stack([np.arange(10.0), 100 + 5 * np.arange(10.0)])
    scaled = Scaler.fit("standard", data).transform(data)
    np.testing.assert_allclose(scaled.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(scaled.std(axis=0), 1)


def test_minmax_maps_training_range_to_unit_interval() -> None:
    data = np.array([[2.0], [4.0], [6.0]])
    scaled = Scaler.fit("minmax", data).transform(data)
    assert scaled[:, 0].tolist() == [0.0, 0.5, 1.0]


def test_constant_column_does_not_divide_by_zero() -> None:
    data = np.full((5, 1), 7.0)
    for kind in ("standard", "minmax"):
        scaler = Scaler.fit(kind, data)
        assert np.isfinite(scaler.transform(data)).all()
        np.testing.assert_allclose(scaler.inverse(scaler.transform(data)), data)


def test_windows_are_scaled_per_feature() -> None:
    windows = np.random.default_rng(2).normal(size=(8, 4, 2)) * [1, 10]
    scaler = Scaler.fit("standard", windows)
    assert scaler.transform(windows).shape == windows.shape
    assert len(scaler.offset) == 2


def test_select_restricts_to_target_columns() -> None:
    scaler = Scaler(kind="standard", offset=[1.0, 2.0, 3.0], scale=[4.0, 5.0, 6.0])
    assert scaler.select([2, 0]) == Scaler(kind="standard", offset=[3.0, 1.0], scale=[6.0, 4.0])


def test_survives_json() -> None:
    scaler = Scaler.fit("minmax", np.arange(10.0).reshape(5, 2))
    assert Scaler.model_validate_json(scaler.model_dump_json()) == scaler
