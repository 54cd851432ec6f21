"""Settings: one class, the old names accepted for one release with a warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.cli import serve
from service.config import Settings


def test_new_names_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_STORE_ROOT", "/tmp/somewhere")
    monkeypatch.setenv("FORECAST_TRAINING_WORKERS", "3")
    settings = Settings()
    assert settings.store_root == Path("/tmp/somewhere")
    assert settings.training_workers == 3


@pytest.mark.parametrize(
    ("old", "new", "value", "expected"),
    [
        ("FORECAST_STORE_DIR", "store_root", "/tmp/old-store", Path("/tmp/old-store")),
        ("FORECAST_WORKERS", "training_workers", "2", 2),
    ],
)
def test_old_environment_names_still_work_and_warn(
    monkeypatch: pytest.MonkeyPatch, old: str, new: str, value: str, expected: object
) -> None:
    monkeypatch.setenv(old, value)
    with pytest.warns(FutureWarning, match=f"{old}.*deprecated.*FORECAST_{new.upper()}"):
        settings = Settings()
    assert getattr(settings, new) == expected


def test_the_new_name_wins_over_the_old(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_STORE_DIR", "/tmp/old")
    monkeypatch.setenv("FORECAST_STORE_ROOT", "/tmp/new")
    with pytest.warns(FutureWarning):
        settings = Settings()
    assert settings.store_root == Path("/tmp/new")


def test_old_cli_options_still_work_and_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: seen.update(kwargs))
    monkeypatch.delenv("FORECAST_STORE_ROOT", raising=False)
    with pytest.warns(FutureWarning, match="--workers is deprecated.*--api-processes"):
        serve(["--workers", "1"])
    assert seen["workers"] == 1
    with pytest.warns(FutureWarning, match="--store is deprecated.*--store-root"):
        serve(["--store", "/tmp/cli-store"])
    assert Settings().store_root == Path("/tmp/cli-store")
    monkeypatch.delenv("FORECAST_STORE_ROOT")
