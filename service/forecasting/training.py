"""The training loop: data held as tensors, many epochs per compiled call.

`model.fit` pays milliseconds of Python and callback overhead per epoch; on the small models and
series this service trains, that overhead is most of the time. Here one `tf.function` runs a chunk
of epochs (shuffled mini-batches, or the full batch compiled with XLA), and Python only looks in
between chunks: early stopping, learning-rate reduction, the time budget, cancellation, progress.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import keras

StopReason = Literal[
    "epochs", "converged", "early_stopping", "max_seconds", "cancelled", "diverged"
]


@dataclass(frozen=True)
class FitConfig:
    epochs: int
    batch_size: int
    patience: int | None = None  # early stopping, in epochs
    reduce_lr_patience: int | None = None  # halve the learning rate after this many flat epochs
    min_learning_rate: float = 1e-4
    min_delta: float = 1e-3  # relative improvement that counts
    tolerance: float | None = None  # stop once the training loss is below this
    max_seconds: float | None = None
    chunk_epochs: int = 50
    seed: int = 0


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


def tagged(
    on_progress: Callable[[Progress], None] | None, *, network: int, networks: int, stage: str
) -> Callable[[Progress], None] | None:
    """Progress of one of several trainings, saying which."""
    if on_progress is None or networks == 1:
        return on_progress
    report = on_progress
    return lambda p: report(replace(p, network=network, networks=networks, stage=stage))


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
    model: keras.Model,
    optimizer: keras.Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    *,
    config: FitConfig,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> FitResult:
    """Train `model` on (x, y) with mean squared error; returns the per-epoch history."""
    import tensorflow as tf

    start = time.perf_counter()
    step, best = _compile_chunk(model, optimizer, x, y, config=config, validation=validation)
    rng = np.random.default_rng(config.seed)
    monitor = _Monitor(config)
    history: dict[str, list[float]] = {"loss": []}
    if validation is not None:
        history["val_loss"] = []
    learning_rates: list[float] = []
    reason: StopReason = "epochs"
    while len(history["loss"]) < config.epochs:
        n = min(config.chunk_epochs, config.epochs - len(history["loss"]))
        order = _batch_order(rng, len(x), config=config)
        losses, val_losses = step(tf.constant(n), order)
        _extend(history, losses.numpy()[:n], val_losses.numpy()[:n] if validation else None)
        for value in history["val_loss" if validation else "loss"][-n:]:
            monitor.update(value)
        learning_rates.append(float(optimizer.learning_rate.numpy()))
        elapsed = time.perf_counter() - start
        if on_progress is not None:
            on_progress(_progress(history, config.epochs, elapsed))
        stop = _stop_reason(history, monitor, config, elapsed, should_cancel)
        if stop is not None:
            reason = stop
            break
        if monitor.should_reduce_lr():
            _reduce_lr(optimizer, config)
            monitor.since_reduce = 0
    if validation is not None and reason != "diverged" and math.isfinite(monitor.best):
        best.restore()  # as Keras' EarlyStopping(restore_best_weights=True)
    return FitResult(
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
    should_cancel: Callable[[], bool] | None,
) -> StopReason | None:
    if not math.isfinite(history["loss"][-1]):
        return "diverged"
    if should_cancel is not None and should_cancel():
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


def _reduce_lr(optimizer: keras.Optimizer, config: FitConfig) -> None:
    current = float(optimizer.learning_rate.numpy())
    optimizer.learning_rate.assign(max(current / 2, config.min_learning_rate))


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


def _full_batch(n: int, config: FitConfig) -> bool:
    return config.batch_size >= n


def _batch_order(rng: np.random.Generator, n: int, *, config: FitConfig) -> Any:
    """Shuffled sample order for each epoch of a chunk, like `model.fit(shuffle=True)`."""
    import tensorflow as tf

    if _full_batch(n, config):
        return tf.zeros((config.chunk_epochs, 1), tf.int32)  # unused: no shuffling needed
    order = np.stack([rng.permutation(n) for _ in range(config.chunk_epochs)])
    return tf.constant(order, tf.int32)


def _compile_chunk(
    model: keras.Model,
    optimizer: keras.Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    *,
    config: FitConfig,
    validation: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[Callable[[Any, Any], tuple[Any, Any]], _BestWeights]:
    """A tf.function running n epochs, returning per-epoch train and validation losses; and
    the weights at the best validation loss it has seen."""
    import tensorflow as tf

    variables = model.trainable_variables
    optimizer.build(variables)
    best = _BestWeights(variables)
    xs, ys = tf.constant(x, tf.float32), tf.constant(y, tf.float32)
    xv, yv = (tf.constant(a, tf.float32) for a in validation) if validation else (xs[:0], ys[:0])
    n_samples, batch = len(x), min(config.batch_size, len(x))
    n_batches = math.ceil(n_samples / batch)

    def train_step(xb: Any, yb: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(xb, training=True) - yb))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    def epoch(order: Any) -> Any:
        if n_batches == 1:
            return train_step(xs, ys)
        total = tf.constant(0.0)
        for b in tf.range(n_batches):
            idx = order[b * batch : (b + 1) * batch]
            weight = tf.cast(tf.shape(idx)[0], tf.float32)
            total += train_step(tf.gather(xs, idx), tf.gather(ys, idx)) * weight
        return total / n_samples

    def val_loss() -> Any:
        if validation is None:
            return tf.constant(0.0)
        return tf.reduce_mean(tf.square(model(xv, training=False) - yv))

    def keep_if_best(loss: Any) -> None:
        if validation is None:
            return

        def keep() -> Any:
            best.loss.assign(loss)
            for kept, variable in zip(best.weights, variables, strict=True):
                kept.assign(variable)
            return tf.constant(0)

        tf.cond(loss < best.loss, keep, lambda: tf.constant(0))

    # XLA pays off on the fixed-shape full-batch loop; mini-batches have a ragged last batch.
    @tf.function(jit_compile=n_batches == 1, reduce_retracing=True)
    def chunk(n: Any, orders: Any) -> tuple[Any, Any]:
        losses = tf.TensorArray(tf.float32, size=n)
        val_losses = tf.TensorArray(tf.float32, size=n)
        for e in tf.range(n):
            losses = losses.write(e, epoch(orders[e]))
            current = val_loss()
            keep_if_best(current)
            val_losses = val_losses.write(e, current)
        return losses.stack(), val_losses.stack()

    return chunk, best


class _BestWeights:
    """The weights at the lowest validation loss so far, copied inside the compiled loop."""

    def __init__(self, variables: list[Any]) -> None:
        import tensorflow as tf

        self.variables = variables
        self.loss = tf.Variable(math.inf, dtype=tf.float32, trainable=False)
        self.weights = [tf.Variable(v, trainable=False) for v in variables]

    def restore(self) -> float:
        """Put the kept weights back; returns their validation loss."""
        for kept, variable in zip(self.weights, self.variables, strict=True):
            variable.assign(kept)
        return float(self.loss.numpy())
