"""One training request, start to finish: checked and submitted as a job in the API process
(`submit`, `result_of`), then trained and stored inside a training worker (`train_and_store`,
see jobs/runner.py). TensorFlow is imported only inside the worker's calls."""

from __future__ import annotations

import logging
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from service.config import Settings
from service.errors import InvalidInput, TrainingRejected
from service.forecasting.auto import TooShortForAuto
from service.forecasting.data import (
    array_examples,
    fingerprint,
)
from service.forecasting.network import Network
from service.forecasting.pipeline import train_arrays, train_auto, train_series
from service.forecasting.spec import TrainSpec
from service.forecasting.trained import Trained
from service.forecasting.training import (
    UNWATCHED,
    TrainingCancelled,
    TrainingContext,
    TrainingDiverged,
)
from service.forecasting.transforms import lag
from service.forecasting.windowing import as_2d
from service.jobs.backend import JobBackend
from service.jobs.record import Job
from service.schemas.dates import SeasonSource, seasoned
from service.schemas.train import HistoryDetail, TrainRequest, TrainResult
from service.store.card import EnsembleMember, History, Metrics, ModelCard, Notes
from service.store.local import (
    BATCHED_FILE,
    CARD_FILE,
    MODEL_FILE,
    NOTES_FILE,
    ONNX_FILE,
    TAIL_FILE,
    ModelStore,
    member_dir,
)
from service.usecases.checks import check_train_request, check_versions

log = logging.getLogger(__name__)


def submit(
    request: TrainRequest, *, jobs: JobBackend, store: ModelStore, settings: Settings
) -> Job:
    """A training job for the request, once it is within the limits."""
    check_train_request(request, settings)
    check_versions(request.model_name, store, settings)
    return jobs.submit(request)


def result_of(job: Job, *, history: HistoryDetail = "summary") -> TrainResult:
    """A finished training job's result, or its error raised."""
    job.raise_error()
    assert job.card is not None
    return TrainResult.from_card(ModelCard.model_validate(job.card), history=history)


def train_request(
    request: TrainRequest,
    *,
    context: TrainingContext = UNWATCHED,
) -> Trained:
    """Train on the data in the form the request gave it."""
    if request.series is not None:
        train = train_auto if request.spec.auto else train_series
        return train(
            spec_of(request)[0],
            request.series,
            test_series=request.test_series,
            context=context,
        )
    assert request.inputs is not None and request.targets is not None
    test = None
    if request.test_inputs is not None and request.test_targets is not None:
        test = array_examples(request.test_inputs, request.test_targets)
    data = array_examples(request.inputs, request.targets)
    return train_arrays(request.spec, data, test=test, context=context)


def train_and_store(
    request: TrainRequest,
    store: ModelStore,
    *,
    context: TrainingContext = UNWATCHED,
    job_id: str | None = None,
) -> ModelCard:
    """Train the requested model and store it as the next version; nothing is stored on failure.
    A `job_id` makes the publication idempotent: a job run twice stores one version."""
    started = time.perf_counter()
    try:
        trained = train_request(request, context=context)
    except TrainingDiverged as error:
        raise TrainingRejected(str(error), field="spec") from None
    except TooShortForAuto as error:
        raise InvalidInput(str(error), field="series") from None
    except TrainingCancelled:
        raise TrainingRejected("training was cancelled; nothing was stored") from None
    if context.cancelled() or trained.fit.stop_reason == "cancelled":
        raise TrainingRejected("training was cancelled; nothing was stored")
    source = request.series if request.series is not None else request.inputs
    assert source is not None
    card_fields = _card_fields(request, trained, fingerprint(source, *_targets(request)))
    tail = _tail(request, trained)
    card_fields["history_rows"] = 0 if tail is None else len(tail)

    def write(folder: Path, version: int) -> None:
        saving = time.perf_counter()
        _save_network(trained, folder)
        for index, member in enumerate(trained.ensemble, start=1):
            _save_network(member, member_dir(folder, index))
        now = time.perf_counter()
        timings = {**trained.timings, "saving": now - saving, "total": now - started}
        card_fields["timings"] = {k: round(v, 4) for k, v in timings.items()}
        card = ModelCard(version=version, **card_fields)
        (folder / CARD_FILE).write_text(card.model_dump_json(indent=2))
        if tail is not None:
            np.save(folder / TAIL_FILE, tail, allow_pickle=False)
        if request.description is not None or request.tags:
            notes = Notes(description=request.description, tags=request.tags or [])
            (folder / NOTES_FILE).write_text(notes.model_dump_json(indent=2))

    version = store.save(request.model_name, write, job_id=job_id)
    return store.card(request.model_name, version)


def _save_network(trained: Trained, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    trained.network.keras_model().save(folder / MODEL_FILE)
    export_serving(trained.network, folder / ONNX_FILE, folder / BATCHED_FILE)


def export_serving(network: Network, onnx: Path, batched: Path) -> None:
    """Export the serving paths (ONNX Runtime; numpy for large batches), and keep each only if
    it agrees on probe windows with the numpy pass over the weights in memory; without them the
    version is still served, by Keras. (The Keras model built from the same weights is checked
    against both paths, layer type by layer type, in tests/forecasting/test_inference.py: a
    Keras forward pass here would cost 0.1-0.2 s per network.)"""
    from service.forecasting.batched import batched_forward, export_batched, network_forward
    from service.forecasting.export import export_onnx, onnx_forward

    probe = np.random.default_rng(0).normal(size=(64, network.timesteps, network.features))
    probe = probe.astype(np.float32)
    expected = network_forward(network)(probe)
    # Random windows can drive a trained network's outputs (scaled units) well past 1, and
    # float32 sums then differ between kernels by ~1e-6 of the largest: a wrong export is off
    # by far more than this.
    atol = 1e-5 * max(1.0, float(np.abs(expected).max()))
    for path, export, load in (
        (onnx, export_onnx, onnx_forward),
        (batched, export_batched, batched_forward),
    ):
        try:
            export(network, path)
            np.testing.assert_allclose(load(path)(probe), expected, rtol=1e-5, atol=atol)
        except Exception as error:  # an optimisation; never fail a training for it
            log.warning("%s export of %s skipped: %r", path.name, path.parent, error)
            path.unlink(missing_ok=True)


def spec_of(request: TrainRequest) -> tuple[TrainSpec, SeasonSource | None]:
    return seasoned(request.spec, request)


def _tail(request: TrainRequest, trained: Trained) -> np.ndarray | None:
    """The last rows of the training series that a forecast past its end reads: a window of
    every network after what its transforms use up."""
    if request.series is None:
        return None
    preps = [trained.preprocessing, *(m.preprocessing for m in trained.ensemble)]
    needed = max(lag(p.transforms) + (p.window.length if p.window else 0) for p in preps)
    series = as_2d(request.series)
    return series[-needed:] if needed else None


def _dates(request: TrainRequest) -> dict[str, Any]:
    calendar = request.calendar
    return {
        "freq": calendar.freq if calendar else None,
        "last_timestamp": calendar.last.isoformat() if calendar else None,
        "season_source": spec_of(request)[1] if request.series is not None else None,
        "missing": request.missing,
        "missing_filled": request.filled,
    }


def _targets(request: TrainRequest) -> list[np.ndarray]:
    return [] if request.targets is None else [request.targets]


def _card_fields(request: TrainRequest, trained: Trained, data_fingerprint: str) -> dict[str, Any]:
    prep = trained.preprocessing
    return {
        "model_name": request.model_name,
        "created_at": datetime.now(UTC),
        "spec": trained.spec or spec_of(request)[0],
        "leaderboard": trained.leaderboard,
        "statistical": trained.statistical,
        "preprocessing": prep,
        "input_shape": (prep.timesteps, prep.features),
        "metrics": Metrics(**trained.metrics),
        "history": History(**trained.fit.history),
        "epochs_run": trained.fit.epochs_run,
        "stop_reason": trained.fit.stop_reason,
        "train_seconds": round(trained.train_seconds, 4),
        "train_examples": trained.examples,
        "data_fingerprint": data_fingerprint,
        "library_versions": library_versions(),
        "calibration": trained.calibration,
        "excluded_rows": trained.excluded_rows,
        "network_share": trained.network_share,
        "ensemble": [_member(m) for m in trained.ensemble],
        **_dates(request),
    }


def _member(trained: Trained) -> EnsembleMember:
    prep = trained.preprocessing
    assert trained.spec is not None, "ensemble members are series models, spec resolved"
    return EnsembleMember(
        spec=trained.spec,
        preprocessing=prep,
        input_shape=(prep.timesteps, prep.features),
        epochs_run=trained.fit.epochs_run,
        stop_reason=trained.fit.stop_reason,
        excluded_rows=trained.excluded_rows,
        network_share=trained.network_share,
    )


def library_versions() -> dict[str, str]:
    import keras
    import numpy
    import tensorflow

    return {
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
    }
