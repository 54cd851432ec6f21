"""Training and evaluation data as (inputs, targets) pairs, plus what a model needs to predict."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from service.forecasting.scaling import Scaler
from service.forecasting.spec import WindowSpec
from service.forecasting.transforms import Transform
from service.forecasting.windowing import make_windows

DataKind = Literal["series", "inputs"]


@dataclass(frozen=True)
class Examples:
    """Model inputs (n, timesteps, features) and targets (n, outputs), in the units the model
    sees before normalisation and scaling (a series' last transform level)."""

    inputs: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.inputs)

    def split(self, fraction: float) -> tuple[Examples, Examples | None]:
        """Hold out the last `fraction` of the examples (chronological, no shuffling)."""
        held = min(round(len(self) * fraction), len(self) - 1)  # keep one to train on
        if held <= 0:
            return self, None
        cut = len(self) - held
        return self[:cut], self[cut:]

    def __getitem__(self, part: slice) -> Examples:
        return Examples(self.inputs[part], self.targets[part])


def series_examples(
    series: np.ndarray, *, window: WindowSpec, target_columns: list[int] | None, stride: int
) -> Examples:
    inputs, targets = make_windows(
        series,
        length=window.length,
        sampling_rate=window.sampling_rate,
        stride=stride,
        target_columns=target_columns,
    )
    return Examples(inputs, targets)


def array_examples(inputs: np.ndarray, targets: np.ndarray) -> Examples:
    return Examples(inputs, targets.reshape(len(targets), -1))


def fingerprint(*arrays: np.ndarray) -> str:
    """A content hash of the training data, so two versions can be told apart by their data."""
    digest = hashlib.sha256()
    for array in arrays:
        contiguous = np.ascontiguousarray(array, dtype=np.float64)
        digest.update(str(contiguous.shape).encode())
        digest.update(contiguous.tobytes())
    return "sha256:" + digest.hexdigest()


class Preprocessing(BaseModel):
    """Everything besides the weights that turns raw data into model inputs and back."""

    model_config = ConfigDict(extra="forbid")

    data_kind: DataKind
    timesteps: int
    features: int
    outputs: int
    window: WindowSpec | None = None
    target_columns: list[int] | None = None
    x_scaler: Scaler
    y_scaler: Scaler
    transforms: list[Transform] = Field(default_factory=list)
    window_normalization: Literal["none", "last", "mean"] = "none"
    season_length: int | None = None

    @property
    def recursive(self) -> bool:
        """Whether predictions can be fed back as inputs: a series model predicting every column."""
        return self.data_kind == "series" and self.outputs == self.features
