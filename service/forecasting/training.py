"""The training loop: compiled once per shape, reused by every training of that shape.

`model.fit` pays milliseconds of Python and callback overhead per epoch, and a fresh
`tf.function` per training pays its tracing and XLA compilation again (about 2 s here) although
the process compiled the same shapes a moment earlier. Here a compiled step belongs to the
process, not to a training: it is keyed on everything that changes the graph (the layer stack,
the window's shape, the padded number of rows, the batching, the optimizer), takes the data as
arguments, and starts each training from fresh weights drawn from the spec's seed. One call runs
a chunk of epochs (shuffled mini-batches or the full batch, compiled with XLA); Python only looks
in between chunks: early stopping, learning-rate reduction, the time budget, cancellation,
progress.

Row counts are padded up to one of eight sizes per octave (rows past the data weigh nothing), so
series of nearby lengths, and `auto`'s candidates whose transforms use up a few rows each, share
a step. Steps are kept in a small LRU per process (`STEPS`): what each costs is its variables and
XLA's executable, a few hundred kilobytes for the networks this service trains.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from service.forecasting.network import Network, build_model, build_optimizer, initial_weights
from service.forecasting.spec import LayerSpec

StopReason = Literal[
    "epochs", "converged", "early_stopping", "max_seconds", "cancelled", "diverged"
]
Optimizer = Literal["adam", "rmsprop", "sgd"]


@dataclass(frozen=True)
class FitConfig:
    epochs: int
    batch_size: int
    learning_rate: float = 1e-3
    optimizer: Optimizer = "adam"
    patience: int | None = None  # early stopping, in epochs
    reduce_lr_patience: int | None = None  # halve the learning rate after this many flat epochs
    min_learning_rate: float = 1e-4
    min_delta: float = 1e-3  # relative improvement that counts
    tolerance: float | None = None  # stop once the training loss is below this
    max_seconds: float | None = None
    chunk_epochs: int = 50
    seed: int = 0
    # Pad the training and validation rows to at least these, so that trainings of slightly
    # different sizes (auto's candidates and their retrainings) share one compiled step.
    pad_rows: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Progress:
    epoch: int
    total: int
    loss: float
    val_loss: float | None
    elapsed: float
    network: int | None = None  # several trainings in one job: which is running (from 1) ...
    networks: int | None = None  # ... of how many
    stage: str | None = None  # and what they are for


@dataclass(frozen=True)
class TrainingContext:
    """What a running training is handed from the job that runs it: where to report progress
    and how to learn that it should stop. Either may be absent (a training nobody watches)."""

    on_progress: Callable[[Progress], None] | None = None
    should_cancel: Callable[[], bool] | None = None

    def report(self, progress: Progress) -> None:
        if self.on_progress is not None:
            self.on_progress(progress)

    def cancelled(self) -> bool:
        return self.should_cancel is not None and self.should_cancel()

    def tagged(self, *, network: int, networks: int, stage: str) -> TrainingContext:
        """The context of one of several trainings: its progress says which it is."""
        if self.on_progress is None or networks == 1:
            return self
        report = self.on_progress
        return replace(
            self,
            on_progress=lambda p: report(
                replace(p, network=network, networks=networks, stage=stage)
            ),
        )


UNWATCHED = TrainingContext()


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; nothing from this run is worth keeping."""


class TrainingCancelled(RuntimeError):
    """Asked to stop (cancelled, or out of time) between trainings: nothing is worth keeping."""


@dataclass
class FitResult:
    history: dict[str, list[float]]
    epochs_run: int
    stop_reason: StopReason
    seconds: float
    learning_rates: list[float] = field(default_factory=list)


@dataclass
class _Monitor:
    """Tracks the monitored loss for early stopping and learning-rate reduction."""

    config: FitConfig
    best: float = math.inf
    since_best: int = 0
    since_reduce: int = 0

    def update(self, value: float) -> None:
        if value < self.best * (1 - self.config.min_delta):
            self.best, self.since_best, self.since_reduce = value, 0, 0
        else:
            self.since_best += 1
            self.since_reduce += 1

    def should_stop(self) -> bool:
        return self.config.patience is not None and self.since_best >= self.config.patience

    def should_reduce_lr(self) -> bool:
        patience = self.config.reduce_lr_patience
        return patience is not None and self.since_reduce >= patience


def fit(
    layers: list[LayerSpec],
    x: np.ndarray,
    y: np.ndarray,
    *,
    config: FitConfig,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    context: TrainingContext = UNWATCHED,
) -> tuple[Network, FitResult]:
    """Train the stack (and a Dense head sized to y) on (x, y) with mean squared error, from
    weights drawn from `config.seed`; returns the trained network and its per-epoch history."""
    start = time.perf_counter()
    _, timesteps, features = x.shape
    shape = {"timesteps": timesteps, "features": features, "outputs": y.shape[1]}
    key = _StepKey.of(layers, x, y, validation, config)
    rng = np.random.default_rng(config.seed)
    with STEPS.checkout(key) as step:
        step.reset(initial_weights(layers, seed=config.seed, **shape), config.learning_rate)
        data = step.inputs(x, y, validation)
        monitor = _Monitor(config)
        history: dict[str, list[float]] = {"loss": []}
        if validation is not None:
            history["val_loss"] = []
        learning_rates: list[float] = []
        reason: StopReason = "epochs"
        while len(history["loss"]) < config.epochs:
            n = min(config.chunk_epochs, config.epochs - len(history["loss"]))
            losses, val_losses = step.run(n, *_batch_order(rng, len(x), key), *data)
            _extend(history, losses[:n], val_losses[:n] if validation else None)
            for value in history["val_loss" if validation else "loss"][-n:]:
                monitor.update(value)
            learning_rates.append(step.learning_rate)
            elapsed = time.perf_counter() - start
            context.report(_progress(history, config.epochs, elapsed))
            stop = _stop_reason(history, monitor, config, elapsed, context)
            if stop is not None:
                reason = stop
                break
            if monitor.should_reduce_lr():
                step.learning_rate = max(step.learning_rate / 2, config.min_learning_rate)
                monitor.since_reduce = 0
        # As Keras' EarlyStopping(restore_best_weights=True): with a validation split, the
        # weights at its lowest loss.
        restore = validation is not None and reason != "diverged" and math.isfinite(monitor.best)
        network = Network(tuple(layers), weights=step.weights(best=restore), **shape)
    return network, FitResult(
        history=history,
        epochs_run=len(history["loss"]),
        stop_reason=reason,
        seconds=time.perf_counter() - start,
        learning_rates=learning_rates,
    )


def _stop_reason(
    history: dict[str, list[float]],
    monitor: _Monitor,
    config: FitConfig,
    elapsed: float,
    context: TrainingContext,
) -> StopReason | None:
    if not math.isfinite(history["loss"][-1]):
        return "diverged"
    if context.cancelled():
        return "cancelled"
    if config.max_seconds is not None and elapsed >= config.max_seconds:
        return "max_seconds"
    # On the training loss even with a validation split: a noise-free series fitted this well
    # is done, whatever the validation windows (a tail the network never saw) still score.
    if config.tolerance is not None and min(history["loss"]) < config.tolerance:
        return "converged"
    if monitor.should_stop():
        return "early_stopping"
    return None


def _extend(history: dict[str, list[float]], losses: np.ndarray, val: np.ndarray | None) -> None:
    history["loss"].extend(float(v) for v in losses)
    if val is not None:
        history["val_loss"].extend(float(v) for v in val)


def _progress(history: dict[str, list[float]], total: int, elapsed: float) -> Progress:
    val = history.get("val_loss")
    return Progress(
        epoch=len(history["loss"]),
        total=total,
        loss=history["loss"][-1],
        val_loss=val[-1] if val else None,
        elapsed=elapsed,
    )


def padded_rows(n: int) -> int:
    """n rounded up to one of eight sizes per octave (at most 1/8 more)."""
    step = 1 << max(0, n.bit_length() - 4)
    return -(-n // step) * step


@dataclass(frozen=True)
class _StepKey:
    """Everything that changes the compiled graph."""

    layers: tuple[LayerSpec, ...]
    timesteps: int
    features: int
    outputs: int
    rows: int  # training rows, padded
    validation_rows: int  # padded; 0 without a validation split
    batch: int  # rows per batch (all of them: one batch)
    batches: int
    optimizer: Optimizer
    chunk_epochs: int

    @classmethod
    def of(
        cls,
        layers: list[LayerSpec],
        x: np.ndarray,
        y: np.ndarray,
        validation: tuple[np.ndarray, np.ndarray] | None,
        config: FitConfig,
    ) -> _StepKey:
        n, timesteps, features = x.shape
        batch = min(config.batch_size, n)
        return cls(
            layers=tuple(layers),
            timesteps=timesteps,
            features=features,
            outputs=y.shape[1],
            rows=padded_rows(max(n, config.pad_rows[0])),
            validation_rows=(
                padded_rows(max(len(validation[0]), config.pad_rows[1])) if validation else 0
            ),
            batch=batch,
            batches=math.ceil(n / batch),
            optimizer=config.optimizer,
            chunk_epochs=config.chunk_epochs,
        )


def _batch_order(rng: np.random.Generator, n: int, key: _StepKey) -> tuple[Any, Any]:
    """Shuffled sample order for each epoch of a chunk, like `model.fit(shuffle=True)`, padded
    to whole batches (padding weighs nothing); unused with one batch."""
    if key.batches == 1:
        return _NO_ORDER.get(key.chunk_epochs), _NO_ORDER.get(key.chunk_epochs, np.float32)
    size = key.batches * key.batch
    order = np.zeros((key.chunk_epochs, size), np.int32)
    weight = np.zeros((key.chunk_epochs, size), np.float32)
    for epoch in range(key.chunk_epochs):
        order[epoch, :n] = rng.permutation(n)
        weight[epoch, :n] = 1.0
    return order, weight


class _Zeros:
    """Placeholder order arrays for full-batch steps, made once per size."""

    def __init__(self) -> None:
        self._made: dict[tuple[int, Any], np.ndarray] = {}

    def get(self, chunk: int, dtype: Any = np.int32) -> np.ndarray:
        return self._made.setdefault((chunk, dtype), np.zeros((chunk, 1), dtype))


_NO_ORDER = _Zeros()


class _Step:
    """A compiled chunk of epochs for one key, with the model, optimizer and best-weight copies
    it updates in place."""

    def __init__(self, key: _StepKey) -> None:
        import tensorflow as tf

        self.key = key
        self.model = build_model(
            list(key.layers), timesteps=key.timesteps, features=key.features, outputs=key.outputs
        )
        self.optimizer = build_optimizer(key.optimizer, learning_rate=1e-3)
        self.variables = self.model.trainable_variables
        self.optimizer.build(self.variables)
        self.best_loss = tf.Variable(math.inf, dtype=tf.float32, trainable=False)
        self.best = [tf.Variable(v, trainable=False) for v in self.variables]
        # A function of its own per step (not the shared method): TensorFlow counts traces per
        # Python function and would warn of "retracing" as each new step traces once.
        self.chunk = tf.function(lambda *args: self._chunk(*args), jit_compile=True)

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.learning_rate.numpy())

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self.optimizer.learning_rate.assign(value)

    def reset(self, weights: tuple[np.ndarray, ...], learning_rate: float) -> None:
        """Fresh weights and a fresh optimizer: as if the model had just been built."""
        for variable, value in zip(self.variables, weights, strict=True):
            variable.assign(value)
        for variable in self.optimizer.variables:
            if variable is not self.optimizer.learning_rate:
                variable.assign(np.zeros(variable.shape, variable.dtype))
        self.learning_rate = learning_rate
        self.best_loss.assign(math.inf)

    def weights(self, *, best: bool) -> tuple[np.ndarray, ...]:
        source = self.best if best else self.variables
        return tuple(np.array(v.numpy()) for v in source)

    def inputs(
        self, x: np.ndarray, y: np.ndarray, validation: tuple[np.ndarray, np.ndarray] | None
    ) -> tuple[Any, ...]:
        """The data padded to the key's rows, with a weight per row (1 for data, 0 for padding)."""
        import tensorflow as tf

        xv, yv = validation if validation is not None else (x[:0], y[:0])
        padded = (
            *_pad(x, y, max(self.key.rows, 1)),
            *_pad(xv, yv, max(self.key.validation_rows, 1)),
        )
        return tuple(tf.constant(a) for a in padded)

    def run(self, n: int, order: Any, order_weight: Any, *data: Any) -> tuple[Any, Any]:
        import tensorflow as tf

        losses, val_losses = self.chunk(tf.constant(n), order, order_weight, *data)
        return losses.numpy(), val_losses.numpy()

    def _chunk(
        self, n: Any, orders: Any, order_weights: Any, x: Any, y: Any, w: Any,
        xv: Any, yv: Any, wv: Any,
    ) -> tuple[Any, Any]:  # fmt: skip
        """n epochs (at most chunk_epochs), returning per-epoch training and validation losses."""
        import tensorflow as tf

        key, model, variables = self.key, self.model, self.variables

        def masked_mse(prediction: Any, target: Any, weight: Any) -> Any:
            per_row = tf.reduce_mean(tf.square(prediction - target), axis=-1)
            return tf.reduce_sum(per_row * weight) / tf.maximum(tf.reduce_sum(weight), 1.0)

        def train_step(xb: Any, yb: Any, wb: Any) -> Any:
            with tf.GradientTape() as tape:
                loss = masked_mse(model(xb, training=True), yb, wb)
            gradients = tape.gradient(loss, variables)
            self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
            return loss

        def epoch(order: Any, order_weight: Any) -> Any:
            if key.batches == 1:
                return train_step(x, y, w)
            order = tf.reshape(order, (key.batches, key.batch))
            order_weight = tf.reshape(order_weight, (key.batches, key.batch))
            total = tf.constant(0.0)
            for b in tf.range(key.batches):
                idx, wb = order[b], order_weight[b]
                total += train_step(tf.gather(x, idx), tf.gather(y, idx), wb) * tf.reduce_sum(wb)
            return total / tf.reduce_sum(order_weight)

        def keep_if_best(loss: Any) -> None:
            def keep() -> Any:
                self.best_loss.assign(loss)
                for kept, variable in zip(self.best, variables, strict=True):
                    kept.assign(variable)
                return tf.constant(0)

            tf.cond(loss < self.best_loss, keep, lambda: tf.constant(0))

        losses = tf.TensorArray(tf.float32, size=key.chunk_epochs)
        val_losses = tf.TensorArray(tf.float32, size=key.chunk_epochs)
        for e in tf.range(n):
            losses = losses.write(e, epoch(orders[e], order_weights[e]))
            current = tf.constant(0.0)
            if key.validation_rows:
                current = masked_mse(model(xv, training=False), yv, wv)
                keep_if_best(current)
            val_losses = val_losses.write(e, current)
        return losses.stack(), val_losses.stack()


def _pad(x: np.ndarray, y: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    px = np.zeros((rows, *x.shape[1:]), np.float32)
    py = np.zeros((rows, *y.shape[1:]), np.float32)
    weight = np.zeros(rows, np.float32)
    px[: len(x)], py[: len(y)], weight[: len(x)] = x, y, 1.0
    return px, py, weight


class CompiledSteps:
    """The process' compiled steps, least recently used first out. A step is checked out for
    the length of one training, so concurrent trainings of one shape each get their own."""

    def __init__(self, capacity: int = 32) -> None:
        self.capacity = capacity
        self._idle: OrderedDict[_StepKey, list[_Step]] = OrderedDict()
        self._lock = threading.Lock()
        self.compiled = 0  # steps built (each traced and compiled once)
        self.reused = 0

    @contextmanager
    def checkout(self, key: _StepKey) -> Iterator[_Step]:
        with self._lock:
            idle = self._idle.get(key)
            step = idle.pop() if idle else None
            if step is not None:
                self.reused += 1
        if step is None:
            step = _Step(key)
            self.compiled += 1
        try:
            yield step
        finally:
            with self._lock:
                self._idle.setdefault(key, []).append(step)
                self._idle.move_to_end(key)
                while sum(len(s) for s in self._idle.values()) > self.capacity:
                    oldest = next(iter(self._idle))
                    self._idle[oldest].pop(0)
                    if not self._idle[oldest]:
                        del self._idle[oldest]

    def __len__(self) -> int:
        return sum(len(steps) for steps in self._idle.values())


STEPS = CompiledSteps()
