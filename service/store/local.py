"""The model store: one folder per model name, one per version, on a local filesystem.

    <root>/<name>/<version>/model.keras   the native Keras file
    <root>/<name>/<version>/model.onnx    the same network exported for serving (optional)
    <root>/<name>/<version>/card.json     a ModelCard, validated on every read
    <root>/<name>/<version>/members/<i>/  the same files for each further ensemble member
    <root>/<name>/.last_version           the highest version ever handed out (never reused)
    <root>/<name>/.lock                   a file lock serialising version allocation, deletes
                                          and alias moves
    <root>/<name>/.aliases/<alias>        the version an alias points at, replaced atomically
    <root>/<name>/<version>/tail.npy      the end of the training series a forecast needs
    <root>/<name>/<version>/notes.json    the version's description and tags (PATCHable)
    <root>/<name>/.jobs/<job id>          the version a training job was given ("5", then
                                          "5 published"): a job run twice publishes once
    <root>/.tmp/                          versions being written; cleaned at start-up

A version is written in full under .tmp and then renamed into place, so readers never see half a
version and a crash mid-save leaves only a temporary folder. Version numbers come from a counter
behind a file lock, which holds across processes sharing one root.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import socket
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock
from pydantic import ValidationError

from service.errors import AliasNotFound, InvalidInput, ModelBroken, ModelNotFound, VersionNotFound
from service.store.card import ModelCard, Notes
from service.store.names import ALIAS_PATTERN, MODEL_NAME_PATTERN, check_model_name

MODEL_FILE = "model.keras"
ONNX_FILE = "model.onnx"
BATCHED_FILE = "model.npz"  # numpy weights for large batches (forecasting/batched.py)
CARD_FILE = "card.json"
TAIL_FILE = "tail.npy"
NOTES_FILE = "notes.json"
_ALIASES = ".aliases"
_TMP = ".tmp"
_JOBS = ".jobs"
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NAME = re.compile(MODEL_NAME_PATTERN)


@dataclass(frozen=True)
class StoredVersion:
    """A version as found on disk: its card, or why it cannot be read."""

    name: str
    version: int
    card: ModelCard | None
    error: str | None = None


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._listings: dict[str, tuple[tuple[int, int, int], list[int]]] = {}

    def open(self) -> None:
        """Create the root and drop temporary folders left by crashed processes. Each folder is
        named after the process and machine writing it, so a process starting beside others
        that share the root (here or on another machine) leaves their saves in progress alone."""
        (self.root / _TMP).mkdir(parents=True, exist_ok=True)
        for leftover in (self.root / _TMP).iterdir():
            if _stale(leftover.name):
                shutil.rmtree(leftover, ignore_errors=True)

    def readable(self) -> bool:
        return os.access(self.root, os.R_OK | os.W_OK | os.X_OK)

    # Reading

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if _NAME.fullmatch(p.name) and p.is_dir())

    def versions(self, name: str) -> list[int]:
        """The versions on disk. Every forecast asks, so the listing is kept until the folder
        changes (its mtime, link count or inode), which a stat tells without listing it."""
        folder = self._folder(name)
        try:
            stat = folder.stat()
        except FileNotFoundError:
            return []
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_nlink)
        cached = self._listings.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        versions = sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit() and p.is_dir())
        self._listings[name] = (key, versions)
        return versions

    def latest(self, name: str) -> int:
        versions = self.versions(name)
        if not versions:
            raise ModelNotFound(f"model {name!r} does not exist", field="model_name")
        return versions[-1]

    def resolve(self, name: str, version: int | str | None) -> int:
        """The version asked for (a number or an alias), or the latest; 404 when either does
        not exist."""
        if version is None:
            return self.latest(name)
        if isinstance(version, str):
            return self.alias_target(name, version)
        if version not in self.versions(name):
            if not self.versions(name):
                raise ModelNotFound(f"model {name!r} does not exist", field="model_name")
            raise VersionNotFound(f"model {name!r} has no version {version}", field="version")
        return version

    def card(self, name: str, version: int) -> ModelCard:
        path = self.version_dir(name, version) / CARD_FILE
        try:
            return ModelCard.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            if not path.parent.is_dir():
                raise VersionNotFound(
                    f"model {name!r} has no version {version}", field="version"
                ) from None
            raise ModelBroken(f"model {name}@{version} is broken: its card is missing") from None
        except (ValidationError, ValueError, OSError) as error:
            raise ModelBroken(
                f"model {name}@{version} is broken: unreadable card ({error})"
            ) from None

    def stored(self, name: str) -> list[StoredVersion]:
        """Every version with its card; a broken version is reported, not raised."""
        return [self.stored_version(name, v) for v in self.versions(name)]

    def stored_version(self, name: str, version: int) -> StoredVersion:
        try:
            card = self.card(name, version)
        except ModelBroken as error:
            return StoredVersion(name, version, None, error.message)
        folders = self.network_dirs(name, version, len(card.ensemble))
        if not all((folder / MODEL_FILE).is_file() for folder in folders):
            return StoredVersion(name, version, None, f"model {name}@{version}: weights missing")
        return StoredVersion(name, version, card)

    def has_version(self, name: str, version: int) -> bool:
        """One stat, cheap enough for every request (bench/scale.py measures it). `name` was
        validated already: this is only asked of versions that were found."""
        return os.path.isdir(os.path.join(self.root, name, str(version)))

    def version_dir(self, name: str, version: int) -> Path:
        return self._folder(name) / str(version)

    def network_dirs(self, name: str, version: int, members: int) -> list[Path]:
        """The folders of the version's networks: its own, then each ensemble member's."""
        folder = self.version_dir(name, version)
        return [folder, *(member_dir(folder, i) for i in range(1, members + 1))]

    def aliases(self, name: str) -> dict[str, int]:
        folder = self._folder(name) / _ALIASES
        if not folder.is_dir():
            return {}
        found = {p.name: _read_version(p) for p in folder.iterdir() if _ALIAS.fullmatch(p.name)}
        return {alias: v for alias, v in sorted(found.items()) if v is not None}

    def alias_target(self, name: str, alias: str) -> int:
        """The version `alias` points at; 404 when it is not set or the version is gone."""
        version = _read_version(self._folder(name) / _ALIASES / alias)
        if version is None:
            if not self.versions(name):
                raise ModelNotFound(f"model {name!r} does not exist", field="model_name")
            raise AliasNotFound(f"model {name!r} has no alias {alias!r}", field="version")
        if version not in self.versions(name):
            raise AliasNotFound(
                f"alias {alias!r} of model {name!r} points at version {version}, which was "
                "deleted; point it at another version",
                field="version",
            )
        return version

    def notes(self, name: str, version: int) -> Notes:
        path = self.version_dir(name, version) / NOTES_FILE
        try:
            return Notes.model_validate_json(path.read_bytes())
        except (FileNotFoundError, ValidationError, ValueError):
            return Notes()

    def tail(self, name: str, version: int) -> np.ndarray | None:
        """The end of the version's training series, when it was kept."""
        path = self.version_dir(name, version) / TAIL_FILE
        try:
            tail: np.ndarray = np.load(path, allow_pickle=False)
        except (FileNotFoundError, ValueError, OSError):
            return None
        return tail

    def archive(self, name: str, version: int) -> bytes:
        """The version's folder as a zip: card, notes, `.keras`, ONNX, members."""
        folder = self.version_dir(name, self.resolve(name, version))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(folder).as_posix())
        return buffer.getvalue()

    # Writing

    def set_alias(self, name: str, alias: str, version: int | str) -> int:
        """Point `alias` at a version (a number or another alias); atomic across processes:
        readers see the old version or the new one, never a half-written file."""
        with self._lock(name):
            target = self.resolve(name, version)
            folder = self._folder(name) / _ALIASES
            folder.mkdir(exist_ok=True)
            _write_atomic(folder / _checked_alias(alias), str(target))
        return target

    def delete_alias(self, name: str, alias: str) -> int:
        """Remove `alias`; returns the version it pointed at."""
        with self._lock(name):
            path = self._folder(name) / _ALIASES / _checked_alias(alias)
            version = _read_version(path)
            if version is None:
                raise AliasNotFound(f"model {name!r} has no alias {alias!r}", field="alias")
            path.unlink()
        return version

    def set_notes(self, name: str, version: int, notes: Notes) -> Notes:
        with self._lock(name):
            folder = self.version_dir(name, self.resolve(name, version))
            _write_atomic(folder / NOTES_FILE, notes.model_dump_json(indent=2))
        return notes

    def save(
        self, name: str, write: Callable[[Path, int], None], *, job_id: str | None = None
    ) -> int:
        """Allocate the next version, let `write(folder, version)` fill a temporary folder, and
        publish it with one rename. Nothing is published if `write` raises.

        With a `job_id`, the version is allocated once per job: a second run of the job (its
        first worker died, or a message was delivered twice) gets the same number, and
        publishes nothing if the first run got as far as publishing."""
        folder = self._folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock(name):
            version, published = self._claim(folder, job_id)
        if published:
            return version
        staging = self.root / _TMP / f"{_writer_tag()}-{name}-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        try:
            write(staging, version)
            self._publish(staging, folder / str(version), job_id)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return version

    def published_by(self, name: str, job_id: str) -> int | None:
        """The version that training job `job_id` published, if it did."""
        folder = self._folder(name)
        if not self._marker(folder, job_id).exists():
            return None
        version, published = self._claim(folder, job_id)
        return version if published else None

    def delete(self, name: str, version: int | None = None) -> list[int]:
        """Delete one version or all of them; returns what was deleted. Counters are kept, so a
        deleted version number is never handed out again."""
        with self._lock(name):
            targets = [self.resolve(name, version)] if version is not None else self.versions(name)
            if not targets:
                raise ModelNotFound(f"model {name!r} does not exist", field="model_name")
            for v in targets:
                # Rename first: a reader sees the version whole or not at all.
                trash = self.root / _TMP / f"{_writer_tag()}-deleted-{name}-{v}-{uuid.uuid4().hex}"
                os.rename(self.version_dir(name, v), trash)
                shutil.rmtree(trash, ignore_errors=True)
        return targets

    def _claim(self, folder: Path, job_id: str | None) -> tuple[int, bool]:
        """(version, published already) for a job; a fresh version for anything else."""
        marker = self._marker(folder, job_id) if job_id else None
        if marker is not None and marker.exists():
            number, *published = marker.read_text().split()
            # Published, unless it died between its rename and its marker: the folder says.
            return int(number), bool(published) or (folder / number).is_dir()
        version = self._next_version(folder)
        if marker is not None:
            marker.parent.mkdir(exist_ok=True)
            _write_atomic(marker, str(version))
        return version, False

    def _publish(self, staging: Path, target: Path, job_id: str | None) -> None:
        try:
            os.rename(staging, target)
        except OSError:
            if job_id is None or not target.is_dir():
                raise
            # Another run of the same job published this version first.
        if job_id is not None:
            _write_atomic(self._marker(target.parent, job_id), f"{target.name} published")

    def _marker(self, folder: Path, job_id: str) -> Path:
        assert _JOB_ID.fullmatch(job_id), f"not a job id: {job_id!r}"
        return folder / _JOBS / job_id

    def _next_version(self, folder: Path) -> int:
        counter = folder / ".last_version"
        last = int(counter.read_text()) if counter.exists() else 0
        existing = max((int(p.name) for p in folder.iterdir() if p.name.isdigit()), default=0)
        version = max(last, existing) + 1
        _write_atomic(counter, str(version))
        return version

    @contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        folder = self._folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(folder / ".lock", timeout=30):
            yield

    def _folder(self, name: str) -> Path:
        try:
            return self.root / check_model_name(name)
        except ValueError as error:
            raise InvalidInput(str(error), field="model_name") from None


_ALIAS = re.compile(ALIAS_PATTERN)


def _checked_alias(alias: str) -> str:
    if not _ALIAS.fullmatch(alias):
        raise InvalidInput(f"alias {alias!r} is not {ALIAS_PATTERN}", field="alias")
    return alias


def _read_version(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    return int(text) if text.isdigit() else None


def member_dir(version_dir: Path, index: int) -> Path:
    return version_dir / "members" / str(index)


def _host() -> str:
    """This machine, as 8 hex digits (a hostname can hold the "-" that separates the parts)."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _writer_tag() -> str:
    return f"{os.getpid()}-{_host()}"


def _stale(folder: str) -> bool:
    """Whether a temporary folder was left by a process of this machine that is gone. Another
    machine's pids cannot be checked from here: its own processes clear its folders."""
    pid, host, *_ = [*folder.split("-", 2), "", ""]
    if host != _host() and re.fullmatch(r"[0-9a-f]{8}", host):
        return False
    return not pid_alive(int(pid) if pid.isdigit() else None)


def pid_alive(pid: int | None) -> bool:
    if pid is None or pid == os.getpid():
        return False  # unnamed, or ours from before a restart under the same pid: stale
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}")
    tmp.write_text(text)
    os.replace(tmp, path)
