from __future__ import annotations

import numpy as np
import pytest

from service.forecasting.windowing import make_windows, window_count


def generator_reference(
    data: np.ndarray, *, length: int, sampling_rate: int, stride: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keras 2's TimeseriesGenerator, unbatched: rows = range(length, len(data), stride),
    sample = data[row - length : row : sampling_rate], target = data[row]."""
    rows = np.arange(length, len(data), stride)
    samples = np.array([data[row - length : row : sampling_rate] for row in rows])
    return samples, data[rows]


def test_hand_computed_length_3() -> None:
    series = np.arange(6.0)  # 0 1 2 3 4 5
    inputs, targets = make_windows(series, length=3)
    assert inputs[..., 0].tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4]]
    assert targets[:, 0].tolist() == [3, 4, 5]


def test_hand_computed_sampling_rate_and_stride() -> None:
    series = np.arange(10.0)
    inputs, targets = make_windows(series, length=4, sampling_rate=2, stride=3)
    # Windows start at 0 and 3: [0, 2] -> 4, [3, 5] -> 7; a start at 6 would need index 10.
    assert inputs[..., 0].tolist() == [[0, 2], [3, 5]]
    assert targets[:, 0].tolist() == [4, 7]


def test_sampling_rate_that_does_not_divide_length() -> None:
    inputs, targets = make_windows(np.arange(8.0), length=5, sampling_rate=2)
    assert inputs[..., 0].tolist() == [[0, 2, 4], [1, 3, 5], [2, 4, 6]]
    assert targets[:, 0].tolist() == [5, 6, 7]


@pytest.mark.parametrize("length", [1, 2, 5, 20])
@pytest.mark.parametrize("sampling_rate", [1, 2, 3])
@pytest.mark.parametrize("stride", [1, 2, 4])
def test_matches_timeseries_generator(length: int, sampling_rate: int, stride: int) -> None:
    data = np.random.default_rng(0).normal(size=(47, 3))
    inputs, targets = make_windows(data, length=length, sampling_rate=sampling_rate, stride=stride)
    expected_inputs, expected_targets = generator_reference(
        data, length=length, sampling_rate=sampling_rate, stride=stride
    )
    np.testing.assert_array_equal(inputs, expected_inputs)
    np.testing.assert_array_equal(targets, expected_targets)
    assert len(inputs) == window_count(len(data), length=length, stride=stride)


def test_lecture_shapes() -> None:
    """The lecture's 200-point training series and length 20 give 180 windows of (20, 1)."""
    inputs, targets = make_windows(np.sin(np.arange(0, 100, 0.5)), length=20)
    assert inputs.shape == (180, 20, 1)
    assert targets.shape == (180, 1)


def test_target_columns_select_targets_but_keep_all_inputs() -> None:
    data = np.arange(12.0).reshape(6, 2)
    inputs, targets = make_windows(data, length=2, target_columns=[1])
    assert inputs.shape == (4, 2, 2)
    assert targets[:, 0].tolist() == [5, 7, 9, 11]


def test_series_no_longer_than_the_window_gives_no_windows() -> None:
    inputs, targets = make_windows(np.arange(5.0), length=5)
    assert inputs.shape == (0, 5, 1)
    assert targets.shape == (0, 1)
