"""Per-column scaling fitted on training data, stored as plain numbers with the model."""

from __future__ import annotations

from functools import cached_property
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from service.forecasting.jsontypes import JsonFloat

ScalerKind = Literal["none", "standard", "minmax"]


class Scaler(BaseModel):
    """x_scaled = (x - offset) / scale, per column (the last axis)."""

    model_config = ConfigDict(frozen=True)

    kind: ScalerKind
    offset: list[JsonFloat]
    scale: list[JsonFloat]

    @classmethod
    def fit(cls, kind: ScalerKind, data: np.ndarray) -> Scaler:
        columns = data.reshape(-1, data.shape[-1]).astype(np.float64)
        if kind == "none":
            n = columns.shape[1]
            return cls(kind=kind, offset=[0.0] * n, scale=[1.0] * n)
        # scikit-learn's scalers handle constant columns (scale 1) and numerical edge cases;
        # only their fitted numbers are kept, so the card stays JSON and nothing is pickled.
        from sklearn.preprocessing import MinMaxScaler, StandardScaler

        if kind == "standard":
            fitted = StandardScaler().fit(columns)
            return cls(kind=kind, offset=list(fitted.mean_), scale=list(fitted.scale_))
        fitted_mm = MinMaxScaler().fit(columns)
        return cls(kind=kind, offset=list(fitted_mm.data_min_), scale=list(1 / fitted_mm.scale_))

    def select(self, columns: list[int]) -> Scaler:
        """The same scaling restricted to some columns (the targets of a series)."""
        return Scaler(
            kind=self.kind,
            offset=[self.offset[c] for c in columns],
            scale=[self.scale[c] for c in columns],
        )

    # Arrays made once: a recursive forecast scales one window per step. (Cached properties are
    # not fields: equality and JSON still see only kind, offset and scale.)
    @cached_property
    def _offset(self) -> np.ndarray:
        return np.asarray(self.offset)

    @cached_property
    def _scale(self) -> np.ndarray:
        return np.asarray(self.scale)

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self._offset) / self._scale

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return values * self._scale + self._offset
