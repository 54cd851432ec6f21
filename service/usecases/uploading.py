"""One upload, start to finish: a `.keras` archive checked, loaded with Keras' `safe_mode`, read
as the service's `Network`, checked against Keras on probe windows, measured on the test series
and stored as the next version, through the same exports, measurements and store as a training.

Runs inside a training worker (jobs/runner.py), under the job time limit; the API process never
imports this. Any failure raises before the store is touched: nothing is written.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from service.config import Settings
from service.errors import InvalidInput
from service.forecasting.batched import Unsupported, network_forward
from service.forecasting.data import Preprocessing
from service.forecasting.imported import network_of
from service.forecasting.inference import Forecaster
from service.forecasting.network import Network
from service.forecasting.pipeline import measure
from service.forecasting.scaling import Scaler
from service.forecasting.spec import TrainSpec
from service.schemas.upload import UploadRequest, UploadSpec, check_timesteps
from service.store.card import History, Metrics, ModelCard, UploadInfo
from service.store.local import BATCHED_FILE, CARD_FILE, MODEL_FILE, ONNX_FILE, ModelStore
from service.usecases.archive import LAYERS, ArchiveInfo, inspect_archive, refuse
from service.usecases.training import export_serving, library_versions

if TYPE_CHECKING:
    import keras

_PROBES = 64


def upload_and_store(
    request: UploadRequest, store: ModelStore, *, job_id: str | None = None
) -> ModelCard:
    """Check and store the uploaded model as the next version; nothing is stored on failure.
    A `job_id` makes the publication idempotent, as for a training."""
    started = time.perf_counter()
    limit = max(Settings().max_upload_bytes, len(request.archive))  # the API checked size
    info = inspect_archive(request.archive, max_bytes=limit)  # again: never load unchecked
    model = load_archive(request.archive)
    network = _network(model, request.spec)
    _check_against_keras(model, network)
    spec = request.spec
    prep = preprocessing(spec, network)
    train_spec = _train_spec(spec, network)
    measuring = time.perf_counter()
    forecaster = Forecaster(network_forward(network), prep)
    metrics, calibration = measure(forecaster, train_spec, None, spec.test_series, held_out=None)
    measured = time.perf_counter() - measuring

    def write(folder: Path, version: int) -> None:
        saving = time.perf_counter()
        (folder / MODEL_FILE).write_bytes(request.archive)
        export_serving(network, folder / ONNX_FILE, folder / BATCHED_FILE)
        now = time.perf_counter()
        card = ModelCard(
            model_name=request.model_name,
            version=version,
            created_at=datetime.now(UTC),
            spec=train_spec,
            preprocessing=prep,
            input_shape=(prep.timesteps, prep.features),
            metrics=Metrics(**metrics),
            history=History(loss=[]),
            epochs_run=0,
            stop_reason="uploaded",
            train_seconds=0.0,
            timings={
                "measuring": round(measured, 4),
                "saving": round(now - saving, 4),
                "total": round(now - started, 4),
            },
            train_examples=0,
            data_fingerprint="unknown: uploaded, not trained here",
            library_versions=library_versions(),
            calibration=calibration,
            upload=_upload_info(request, info),
        )
        (folder / CARD_FILE).write_text(card.model_dump_json(indent=2))

    version = store.save(request.model_name, write, job_id=job_id)
    return store.card(request.model_name, version)


def load_archive(archive: bytes) -> keras.Model:
    """Keras' own loader with `safe_mode` (no lambdas, no code from the archive) and without
    the training configuration; then the layers' classes once more, as loaded."""
    import keras

    with tempfile.TemporaryDirectory(prefix="upload-") as folder:
        path = Path(folder) / "upload.keras"
        path.write_bytes(archive)
        try:
            model = keras.saving.load_model(path, safe_mode=True, compile=False)
        except Exception as error:  # whatever the archive made Keras raise is the file's fault
            raise refuse(f"file does not load in Keras: {_short(error)}") from None
    if not isinstance(model, keras.Model):
        raise refuse(f"file holds a {type(model).__name__}, not a Keras model")
    for layer in model.layers:
        kind = type(layer)
        if kind.__name__ not in LAYERS or not kind.__module__.startswith("keras."):
            raise refuse(f"file: layer {layer.name!r} is a {kind.__name__}, which is not served")
    return model


def _network(model: keras.Model, spec: UploadSpec) -> Network:
    """The model as a Network, once its input and output agree with the declared window,
    scaling and target columns."""
    shape = tuple(model.input_shape) if len(model.inputs) == 1 else ()
    if len(shape) == 3:
        check_timesteps(shape[1], spec.window)
    try:
        network = network_of(model, timesteps=spec.window.timesteps)
    except (Unsupported, ValueError) as error:
        raise refuse(f"file: {error}") from None
    _check_size(network)
    _check_columns(network, spec)
    return network


def _check_size(network: Network) -> None:
    settings = Settings()  # the training worker's, from its environment
    if len(network.layers) > settings.max_layers:
        raise refuse(
            f"file: the model has {len(network.layers)} layers before its head, the limit is "
            f"{settings.max_layers} (FORECAST_MAX_LAYERS)"
        )
    for layer in network.layers:
        if layer.units > settings.max_units:
            raise refuse(
                f"file: a {layer.type} layer has {layer.units} units, the limit is "
                f"{settings.max_units} (FORECAST_MAX_UNITS)"
            )


def _check_columns(network: Network, spec: UploadSpec) -> None:
    features, columns = network.features, spec.target_columns or list(range(network.features))
    if columns[-1] >= features:
        raise InvalidInput(
            f"spec.target_columns has {columns[-1]}, the model's windows have {features} "
            f"features (columns 0..{features - 1})",
            field="spec.target_columns",
        )
    if network.outputs != len(columns):
        raise refuse(
            f"file: the model outputs {network.outputs} values per window; the target columns "
            f"are {len(columns)} (spec.target_columns, default: all {features} features)"
        )
    for name, scaler, width in (
        ("scaling", spec.x_scaler, features),
        ("target_scaling", spec.target_scaling, len(columns)),
    ):
        if scaler is not None and len(scaler.offset) != width:
            raise InvalidInput(
                f"spec.{name} has {len(scaler.offset)} columns, the model's "
                f"{'windows have' if name == 'scaling' else 'outputs are'} {width}",
                field=f"spec.{name}",
            )
    if spec.test_series is not None:
        given = 1 if spec.test_series.ndim == 1 else spec.test_series.shape[1]
        if given != features:
            raise InvalidInput(
                f"spec.test_series has {given} features, the model's windows have {features}",
                field="spec.test_series",
            )


def _check_against_keras(model: keras.Model, network: Network) -> None:
    """The Network's numpy pass must give what Keras gives, on random windows: else the model
    is not the stack it was read as (an option or a wiring this reading does not know)."""
    probe = np.random.default_rng(0).normal(size=(_PROBES, network.timesteps, network.features))
    probe = probe.astype(np.float32)
    expected = np.asarray(model(probe, training=False), dtype=np.float32)
    got = network_forward(network)(probe)
    atol = 1e-5 * max(1.0, float(np.abs(expected).max()))
    if expected.shape != got.shape or not np.allclose(got, expected, rtol=1e-5, atol=atol):
        raise refuse(
            "file: the model does not compute what the service's reading of its layers "
            "computes on probe windows (a layer option or a connection it does not serve)"
        )


def preprocessing(spec: UploadSpec, network: Network) -> Preprocessing:
    columns = spec.target_columns or list(range(network.features))
    x_scaler = spec.x_scaler or Scaler.fit("none", np.zeros((1, network.features)))
    return Preprocessing(
        data_kind="series",
        timesteps=network.timesteps,
        features=network.features,
        outputs=network.outputs,
        window=spec.window,
        target_columns=spec.target_columns,
        x_scaler=x_scaler,
        y_scaler=spec.target_scaling or x_scaler.select(columns),
        transforms=spec.transforms,
        window_normalization=spec.window_normalization,
        season_length=_train_spec(spec, network).season,
    )


def _train_spec(spec: UploadSpec, network: Network) -> TrainSpec:
    """The card's spec: the network read from the file and the declared preprocessing; its
    training numbers are unset (it was not trained here)."""
    return TrainSpec(
        layers=list(network.layers),
        window=spec.window,
        scaling=spec.x_scaler.kind if spec.x_scaler is not None else "none",
        transforms=spec.transforms,
        window_normalization=spec.window_normalization,
        season_length=spec.season_length,
        target_columns=spec.target_columns,
        interval_horizon=spec.interval_horizon,
        calibration_origins=spec.calibration_origins,
    )


def _upload_info(request: UploadRequest, info: ArchiveInfo) -> UploadInfo:
    return UploadInfo(
        sha256=info.sha256,
        filename=request.filename,
        size=len(request.archive),
        keras_version=info.keras_version,
        uploaded_by=request.uploaded_by,
    )


def _short(error: Exception, limit: int = 300) -> str:
    text = f"{type(error).__name__}: {error}".replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
