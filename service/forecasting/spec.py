"""The training spec: what network to build and how to train it.

These models are the domain language shared by the HTTP schemas, the model card and the ML core.
They import pydantic only, never FastAPI or TensorFlow.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.forecasting.jsontypes import JsonBool, JsonFloat, JsonInt
from service.forecasting.scaling import Scaler
from service.forecasting.transforms import Transform, check_chain

__all__ = [
    "JsonBool",
    "JsonFloat",
    "JsonInt",
    "Scaler",
    "TrainSpec",
    "Transform",
    "WindowSpec",
]  # the vocabulary of a spec


class LayerType(StrEnum):
    dense = "dense"
    simple_rnn = "simple_rnn"
    lstm = "lstm"
    gru = "gru"

    @property
    def recurrent(self) -> bool:
        return self is not LayerType.dense


Activation = Literal["tanh", "relu", "sigmoid", "linear", "elu", "selu", "gelu", "swish"]
Preset = Literal["lstm", "gru", "simple_rnn", "dense"]
Scaling = Literal["none", "standard", "minmax"]


class LayerSpec(BaseModel):
    """One layer of an explicit stack; a Dense output head is always added after the stack."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # hashable: a compiled step's key

    type: LayerType
    units: JsonInt = Field(ge=1, description="Limited by FORECAST_MAX_UNITS.")
    activation: Activation | None = Field(
        default=None, description="Defaults to tanh for recurrent layers, linear for dense."
    )
    return_sequences: JsonBool = Field(
        default=False, description="Recurrent layers only: emit every timestep, not just the last."
    )

    @model_validator(mode="after")
    def _sequences_only_for_recurrent(self) -> LayerSpec:
        if self.return_sequences and not self.type.recurrent:
            raise ValueError("return_sequences applies to recurrent layers only, not dense")
        return self


class WindowSpec(BaseModel):
    """TimeseriesGenerator semantics: window i = series[i : i+length : sampling_rate],
    target = series[i+length], one window every `stride` steps."""

    model_config = ConfigDict(extra="forbid")

    length: JsonInt = Field(default=20, ge=1, le=10_000)
    sampling_rate: JsonInt = Field(default=1, ge=1, le=10_000)
    stride: JsonInt = Field(default=1, ge=1, le=10_000)

    @property
    def timesteps(self) -> int:
        """Samples per window: len(range(0, length, sampling_rate))."""
        return math.ceil(self.length / self.sampling_rate)


class TrainSpec(BaseModel):
    """How to build and train one model. Unset training numbers take measured defaults."""

    model_config = ConfigDict(extra="forbid")

    architecture: Preset | Literal["auto"] | None = Field(
        default=None,
        description="A preset network; give this or `layers`, not both. Default: lstm. `auto` "
        "trains each preset and keeps the one with the lowest rolling-origin validation error.",
    )
    units: JsonInt | None = Field(
        default=None, ge=1, description="Units per layer of a preset (default 8)."
    )
    layers: list[LayerSpec] | None = Field(
        default=None,
        min_length=1,
        description="An explicit stack; a Dense head sized to the targets is added after it "
        "(at most FORECAST_MAX_LAYERS layers).",
    )
    window: WindowSpec = Field(default_factory=WindowSpec)
    batch_size: JsonInt | None = Field(
        default=None, ge=1, le=100_000, description="Default: all windows in one batch."
    )
    epochs: JsonInt | None = Field(
        default=None, ge=1, description="Default: 2000. Limited by FORECAST_MAX_EPOCHS."
    )
    optimizer: Literal["adam", "rmsprop", "sgd"] = "adam"
    learning_rate: JsonFloat | None = Field(default=None, gt=0, le=10, description="Default: 0.03.")
    loss: Literal["mse"] = "mse"
    validation_fraction: JsonFloat | None = Field(
        default=None,
        ge=0.0,
        lt=0.9,
        description="Last fraction of the windows held out: early stopping watches their loss "
        "and the weights at its lowest are kept. Default: 0.15 for a series of at least 20 "
        "windows when `epochs` is not given, else 0.",
    )
    early_stopping_patience: JsonInt | None = Field(
        default=None,
        ge=1,
        description="Epochs without improvement before stopping. Default: 300, or off when "
        "`epochs` is given explicitly.",
    )
    tolerance: JsonFloat | None = Field(
        default=None,
        gt=0,
        description="Stop once the training loss, in scaled units, is below this: the network "
        "fits the data (with a validation split, its best weights are kept). Default: 1e-6, or "
        "off when `epochs` is given explicitly.",
    )
    interval_horizon: JsonInt = Field(
        default=12,
        ge=0,
        le=1000,
        description="Steps ahead for which prediction intervals are calibrated (0: none). The "
        "errors of forecasts from `calibration_origins` origins of the test series (else of the "
        "training series, in-sample) are stored with the model.",
    )
    calibration_origins: JsonInt = Field(default=30, ge=5, le=1000)
    seed: JsonInt = Field(default=0, ge=0, le=2**31 - 1)
    scaling: Scaling = "standard"
    transforms: list[Transform] | Literal["auto"] = Field(
        default_factory=list,
        max_length=4,
        description="Applied to the series in order before windowing (e.g. log, then "
        "difference), inverted on every prediction. Series only. `auto` tries none, windows "
        "relative to their last value, difference, log + difference and log with relative "
        "windows (positive data), and a seasonal difference (when `season_length` is known), "
        "and keeps the best by rolling-origin validation.",
    )
    window_normalization: Literal["none", "last", "mean"] | None = Field(
        default=None,
        description="Express each window relative to its own last value or mean (per feature); "
        "the prediction is mapped back. Default: `last` for a series without transforms (the "
        "network then learns changes, not levels, and follows a trend), else none.",
    )
    season_length: JsonInt | None = Field(
        default=None,
        ge=2,
        le=10_000,
        description="The data's season, for the seasonal naive baseline. Default: the "
        "seasonal_difference's, if any.",
    )
    target_columns: list[JsonInt] | None = Field(
        default=None,
        min_length=1,
        description="Columns of a 2-D series to predict (default: all of them).",
    )
    max_seconds: JsonFloat | None = Field(
        default=None, gt=0, description="Stop training at this budget; the model so far is kept."
    )
    refit_full: JsonBool = Field(
        default=False,
        description="With `auto`: also retrain the kept candidates on the whole series and add "
        "them to the ensemble. By default the ensemble is the kept candidates as validated "
        "(trained without the validation tail), which forecast the benchmark's held-out data "
        "better in about 60% of the time.",
    )

    @model_validator(mode="after")
    def _one_architecture(self) -> TrainSpec:
        if self.architecture is not None and self.layers is not None:
            raise ValueError("give either `architecture` or `layers`, not both")
        if self.layers is not None and self.units is not None:
            raise ValueError("`units` applies to presets; set units on each layer instead")
        check_stack(self.resolved_layers())
        check_chain(self.chain)
        return self

    @property
    def auto(self) -> bool:
        """Whether the network or the transforms are to be chosen by validation."""
        return self.architecture == "auto" or self.transforms == "auto"

    @property
    def chain(self) -> list[Transform]:
        """The transforms, once chosen (an `auto` spec has none yet)."""
        return [] if self.transforms == "auto" else self.transforms

    @property
    def series_normalization(self) -> Literal["none", "last", "mean"]:
        """The window normalization of a series model: as given, else `last` without transforms
        (measured in forecasting/pipeline.py) and none with them."""
        if self.window_normalization is not None:
            return self.window_normalization
        # A one-step window relative to itself is all zeros: nothing left to learn from.
        return "none" if self.chain or self.window.timesteps == 1 else "last"

    @property
    def season(self) -> int | None:
        """The season length the baselines use."""
        seasonal = [t.season_length for t in self.chain if t.season_length]
        return self.season_length or (seasonal[0] if seasonal else None)

    def resolved_layers(self) -> list[LayerSpec]:
        """The explicit stack, or the preset expanded to one (an `auto` architecture counts as
        its largest candidate, for limits)."""
        if self.layers is not None:
            return self.layers
        preset: Preset = "lstm"
        if self.architecture is not None and self.architecture != "auto":
            preset = self.architecture
        return preset_layers(preset, units=self.units or DEFAULT_UNITS)


DEFAULT_UNITS = 8


def preset_layers(preset: Preset, *, units: int) -> list[LayerSpec]:
    if preset == "dense":
        # An MLP over the whole (flattened) window, as in the lecture's first experiment.
        return [
            LayerSpec(type=LayerType.dense, units=units, activation="relu"),
            LayerSpec(type=LayerType.dense, units=units, activation="relu"),
        ]
    return [LayerSpec(type=LayerType(preset), units=units)]


def check_stack(layers: list[LayerSpec]) -> None:
    """A recurrent layer needs a sequence: the layer before it must return sequences."""
    sequence = True
    for i, layer in enumerate(layers):
        if layer.type.recurrent:
            if not sequence:
                raise ValueError(
                    f"layers[{i}] ({layer.type}) needs a sequence as input, but the recurrent "
                    f"layer before it has return_sequences=false"
                )
            sequence = layer.return_sequences
