"""`.keras` files as a user's notebook makes them, and hostile ones, for the upload tests."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

LECTURE_TRAIN = np.sin(np.arange(0, 100, 0.5))
LECTURE_TEST = np.sin(np.arange(90, 200, 0.5))


def windows(series: np.ndarray, length: int) -> np.ndarray:
    """(n, length, 1) windows, as TimeseriesGenerator cut them (the last value has no target)."""
    return np.stack([series[i : i + length] for i in range(len(series) - length)])[..., None]


def lecture_model(path: Path, *, epochs: int = 20) -> Any:
    """The lecture's windowed LSTM(4) + Dense(1) on windows of 20, fitted briefly (at a high
    learning rate: its outputs reach the sine's amplitude) and saved as its notebook would."""
    import keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((20, 1)), keras.layers.LSTM(4), keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer=keras.optimizers.Adam(0.05))
    model.fit(windows(LECTURE_TRAIN, 20), LECTURE_TRAIN[20:], epochs=epochs, verbose=0)
    model.save(path)
    return model


def saved(path: Path, *layers: Any, inputs: tuple[int, ...] = (20, 1)) -> bytes:
    """A Sequential model of `layers` on `inputs`, saved, as bytes."""
    import keras

    keras.utils.set_random_seed(2)
    keras.Sequential([keras.Input(inputs), *layers]).save(path)
    return path.read_bytes()


def lambda_model(path: Path) -> bytes:
    import keras

    inputs = keras.Input((20, 1))
    scaled = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    outputs = keras.layers.Dense(1)(keras.layers.LSTM(4)(scaled))
    keras.Model(inputs, outputs).save(path)
    return path.read_bytes()


def rezipped(archive: bytes, **replace: bytes) -> bytes:
    """The archive with members replaced or added (name -> bytes); `None`-free."""
    source = zipfile.ZipFile(io.BytesIO(archive))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            if info.filename not in replace:
                target.writestr(info, source.read(info))
        for name, data in replace.items():
            target.writestr(name, data)
    return out.getvalue()


def zip_bomb(archive: bytes, *, unpacked: int) -> bytes:
    """The archive with its weights replaced by `unpacked` zero bytes, deflated (about a
    thousandth of that on disk)."""
    source = zipfile.ZipFile(io.BytesIO(archive))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename != "model.weights.h5":
                target.writestr(info.filename, source.read(info))
        with target.open("model.weights.h5", "w", force_zip64=True) as member:
            chunk = bytes(2**20)
            for _ in range(unpacked // len(chunk)):
                member.write(chunk)
    return out.getvalue()


def plain_zip(**members: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name, data in members.items():
            target.writestr(name, data)
    return out.getvalue()
