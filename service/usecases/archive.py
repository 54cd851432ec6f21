"""A `.keras` archive read without TensorFlow: what it declares, and whether the service takes it.

A Keras 3 archive is a zip of `metadata.json` (the Keras version that saved it), `config.json`
(the model's layers, as JSON) and `model.weights.h5`. Everything here reads those with zipfile
and json only, so the API process refuses a hostile or unsupported upload at once, with a 4xx
naming the problem, before a training worker (which loads it with Keras' `safe_mode`) ever sees
it; the worker runs the same checks again before loading.

The checks, in order: size; a zip; member names (no paths out of the archive, only the three
members Keras writes); their unpacked sizes (a zip bomb declares far more than it holds, and
zipfile never inflates a member past its declared size); the Keras version; the layers (an
allow-list of classes, no objects from outside Keras, no serialised functions); one 3-D input.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import zipfile
from dataclasses import dataclass
from typing import Any

from service.errors import InvalidInput, UploadTooLarge

FIELD = "file"
MEMBERS = ("metadata.json", "config.json", "model.weights.h5")
# What the service serves: the layers network.build_model emits itself.
LAYERS = ("InputLayer", "Dense", "SimpleRNN", "LSTM", "GRU", "Flatten", "Cropping1D")
MODELS = ("Sequential", "Functional", "Model")
# An archive unpacks to at most this multiple of its size limit: h5 weights hardly compress.
UNPACKED_RATIO = 4
_JSON_BYTES = 2**20  # metadata.json and config.json: a few kB for any model the service takes


@dataclass(frozen=True)
class ArchiveInfo:
    sha256: str
    keras_version: str
    model_class: str
    layers: list[str]  # class names, in config order
    input_shape: tuple[int | None, ...] | None  # (batch, timesteps, features), when declared


def inspect_archive(data: bytes, *, max_bytes: int) -> ArchiveInfo:
    """The archive's declarations, or the first reason it is refused (InvalidInput on `file`,
    UploadTooLarge past `max_bytes`)."""
    if len(data) > max_bytes:
        raise UploadTooLarge(
            f"file is {len(data)} bytes, the limit is {max_bytes} (FORECAST_MAX_UPLOAD_BYTES)",
            field=FIELD,
        )
    archive = _open_zip(data)
    with archive:
        _check_members(archive, max_unpacked=UNPACKED_RATIO * max_bytes)
        metadata = _read_json(archive, "metadata.json")
        config = _read_json(archive, "config.json")
    version = _keras_version(metadata)
    model_class, layers = _check_model(config)
    return ArchiveInfo(
        sha256=hashlib.sha256(data).hexdigest(),
        keras_version=version,
        model_class=model_class,
        layers=[layer["class_name"] for layer in layers],
        input_shape=_input_shape(config, layers),
    )


def refuse(message: str) -> InvalidInput:
    return InvalidInput(message, field=FIELD)


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise refuse(f"file is not a Keras 3 .keras archive: not a zip file ({error})") from None


def _check_members(archive: zipfile.ZipFile, *, max_unpacked: int) -> None:
    infos = archive.infolist()
    for info in infos:
        if not _inside(info.filename):
            raise refuse(
                f"file: archive member {info.filename!r} is not a plain path inside the archive "
                "(absolute, `..` or a drive): refused"
            )
    names = [info.filename for info in infos]
    missing = [name for name in MEMBERS if name not in names]
    if missing:
        raise refuse(
            f"file is a zip but not a Keras 3 .keras archive: it has no {missing[0]} "
            "(save the model with `model.save('name.keras')`)"
        )
    unexpected = sorted(set(names) - set(MEMBERS))
    if unexpected:
        raise refuse(
            f"file: archive member {unexpected[0]!r} is not part of a Keras model archive, "
            f"which holds only {', '.join(MEMBERS)}"
        )
    if len(names) != len(set(names)):
        raise refuse("file: the archive holds the same member twice")
    unpacked = sum(info.file_size for info in infos)
    if unpacked > max_unpacked:
        raise refuse(
            f"file unpacks to {unpacked} bytes, more than {max_unpacked} "
            f"({UNPACKED_RATIO}x FORECAST_MAX_UPLOAD_BYTES): refused as a zip bomb"
        )


def _inside(name: str) -> bool:
    """A relative path that stays inside the archive, written as zip writes it."""
    if not name or "\\" in name or name.startswith("/") or ":" in name or "\x00" in name:
        return False
    normal = posixpath.normpath(name)
    return normal == name and not normal.startswith("..")


def _read_json(archive: zipfile.ZipFile, name: str) -> Any:
    if archive.getinfo(name).file_size > _JSON_BYTES:
        raise refuse(f"file: {name} is larger than {_JSON_BYTES} bytes")
    try:
        with archive.open(name) as member:
            return json.loads(member.read(_JSON_BYTES + 1))
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError) as error:
        raise refuse(f"file: {name} in the archive is not readable JSON ({error})") from None


def _keras_version(metadata: Any) -> str:
    version = metadata.get("keras_version") if isinstance(metadata, dict) else None
    if not isinstance(version, str) or not version.startswith("3."):
        raise refuse(f"file was saved by Keras {version!r}; the service loads Keras 3 archives")
    return version


def _check_model(config: Any) -> tuple[str, list[dict[str, Any]]]:
    """The model's class and its layers' configs, once every layer and object is allowed."""
    if not isinstance(config, dict) or config.get("class_name") not in MODELS:
        found = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise refuse(
            f"file: the archive holds a {found!r}, not a Keras Sequential or functional model"
        )
    layers = (config.get("config") or {}).get("layers")
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        raise refuse("file: config.json lists no layers")
    for layer in layers:
        _check_layer(layer)
    _check_objects(config.get("config"), where="the model")
    return str(config["class_name"]), layers


def _check_layer(layer: dict[str, Any]) -> None:
    kind = layer.get("class_name")
    name = (layer.get("config") or {}).get("name", kind)
    if kind == "Lambda":
        raise refuse(
            f"file: layer {name!r} is a Lambda layer, which runs arbitrary code: refused "
            f"(supported layers: {', '.join(LAYERS)})"
        )
    if kind in MODELS:
        raise refuse(f"file: layer {name!r} is a nested model; save one flat model instead")
    if kind not in LAYERS or layer.get("module") != "keras.layers":
        raise refuse(
            f"file: layer {name!r} is a {kind} ({layer.get('module')}), which the service does "
            f"not serve (supported layers: {', '.join(LAYERS)})"
        )


def _check_objects(value: Any, *, where: str) -> None:
    """No object from outside Keras (a custom class) and no serialised function anywhere in
    the model's config: the Keras tensors and dtype policies it references are Keras' own."""
    if isinstance(value, list):
        for item in value:
            _check_objects(item, where=where)
        return
    if not isinstance(value, dict):
        return
    if "class_name" in value:
        kind, module = value.get("class_name"), value.get("module")
        if isinstance(kind, str) and kind.startswith("__") and kind != "__keras_tensor__":
            raise refuse(f"file: {where} holds a serialised function ({kind}): refused")
        elif module is not None and not (
            isinstance(module, str) and (module == "keras" or module.startswith("keras."))
        ):
            raise refuse(f"file: {where} holds {kind!r} from {module!r}, not from Keras: refused")
        elif value.get("registered_name") not in (None, kind):
            registered = value.get("registered_name")
            raise refuse(f"file: {where} holds a custom object {registered!r}: refused")
        if kind in LAYERS:
            where = f"layer {(value.get('config') or {}).get('name', kind)!r}"
    for item in value.values():
        _check_objects(item, where=where)


def _input_shape(
    config: dict[str, Any], layers: list[dict[str, Any]]
) -> tuple[int | None, ...] | None:
    inputs = [layer for layer in layers if layer.get("class_name") == "InputLayer"]
    if len(inputs) > 1:
        raise refuse(f"file: the model takes {len(inputs)} inputs; the service feeds one window")
    shape = None
    if inputs:
        shape = (inputs[0].get("config") or {}).get("batch_shape")
    if shape is None:
        shape = (config.get("build_config") or {}).get("input_shape")
    if not isinstance(shape, list) or not all(d is None or isinstance(d, int) for d in shape):
        return None
    if len(shape) != 3:
        raise refuse(
            f"file: the model takes input of shape {_shape(shape)}; the service feeds 3-D "
            "windows (batch, timesteps, features)"
        )
    return tuple(shape)


def _shape(shape: list[int | None] | tuple[int | None, ...]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
