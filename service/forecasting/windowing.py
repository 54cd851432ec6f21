"""Windows over a series, with the semantics of Keras 2's TimeseriesGenerator.

Window i starts at i * stride: inputs = series[start : start+length : sampling_rate],
target = series[start+length]. The generator no longer exists in Keras 3; these functions keep it.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def as_2d(series: np.ndarray) -> np.ndarray:
    """(time,) becomes (time, 1); (time, features) is returned as is."""
    return series.reshape(-1, 1) if series.ndim == 1 else series


def window_count(n: int, *, length: int, stride: int = 1) -> int:
    """How many (window, target) pairs a series of n samples gives."""
    return len(range(0, n - length, stride))


def make_windows(
    series: np.ndarray,
    *,
    length: int,
    sampling_rate: int = 1,
    stride: int = 1,
    target_columns: list[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return inputs (windows, timesteps, features) and targets (windows, targets)."""
    data = as_2d(series)
    # Window starts 0, stride, ... below n - length: each needs the target after it.
    starts = slice(0, max(len(data) - length, 0), stride)
    inputs = window_inputs(data, length=length, sampling_rate=sampling_rate)[starts]
    targets = data[length::stride]
    if target_columns is not None:
        targets = targets[:, target_columns]
    return inputs, targets


def window_inputs(series: np.ndarray, *, length: int, sampling_rate: int = 1) -> np.ndarray:
    """Every window of `length` samples (stride 1), as (windows, timesteps, features)."""
    data = as_2d(series)
    if len(data) < length:
        return np.empty((0, len(range(0, length, sampling_rate)), data.shape[1]), data.dtype)
    view = sliding_window_view(data, length, axis=0)  # (windows, features, length)
    return view.transpose(0, 2, 1)[:, ::sampling_rate, :]
