"""Schemathesis against the live server (scripts/fuzz-api): no 5xx, every response on schema."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_off_schema_response() -> None:
    done = subprocess.run(
        [str(ROOT / "scripts" / "fuzz-api")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, done.stdout[-8000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated, output[-2000:]
    assert int(generated.group(1)) >= 200
    assert generated.group(1) == generated.group(2)
