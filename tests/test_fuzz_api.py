"""Schemathesis against the live server (scripts/fuzz-api): every check, all four phases, with
no key set and with one."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def fuzz(**env: str) -> str:
    done = subprocess.run(
        [str(ROOT / "scripts" / "fuzz-api")],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, done.stdout[-8000:]
    return output


def assert_all_passed(output: str) -> None:
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated, output[-2000:]
    assert int(generated.group(1)) >= 500
    assert generated.group(1) == generated.group(2)
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert re.search(rf"✅ {phase}", output), phase


@pytest.mark.slow
def test_schemathesis_every_check_and_phase_passes_without_a_key() -> None:
    assert_all_passed(fuzz(SEED="20261202"))


@pytest.mark.slow
def test_schemathesis_every_check_passes_with_the_key_set() -> None:
    output = fuzz(SEED="20261203", FORECAST_API_KEY="fuzz-s3cret")
    assert_all_passed(output)
