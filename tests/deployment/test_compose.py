"""docker-compose.yaml keeps the deployment test's topology, so what CI proves is what `docker compose up` runs.

No Docker engine runs here; the compose file is read as data, and `docker compose config` checks it
where a docker client with the compose plugin is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from tests.deployment.airflow_deployment import ROOT
from tests.deployment.topology import AIRFLOW_COMPONENTS, EXECUTOR

COMPOSE_FILE = ROOT / "docker-compose.yaml"
LONG_RUNNING = {"postgres", "redis", "aws", *(f"airflow-{name}" for name in ("apiserver", "scheduler"))}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _command(service: dict) -> tuple[str, ...]:
    command = service.get("command", ())
    return tuple(command.split() if isinstance(command, str) else command)


def test_the_compose_file_runs_each_airflow_component_of_the_deployment_test(compose):
    services = compose["services"]
    airflow = {name: _command(service) for name, service in services.items() if service.get("build")}
    components = sorted(command for name, command in airflow.items() if name not in ("airflow-init", "aws-init"))
    assert components == sorted(AIRFLOW_COMPONENTS.values())
    assert {"postgres", "redis", "aws", "aws-init", "airflow-init"} <= set(services)


def test_every_long_running_service_has_a_healthcheck_and_every_airflow_service_waits_for_its_backends(compose):
    services = compose["services"]
    components = {name for name, service in services.items() if _command(service) in AIRFLOW_COMPONENTS.values()}
    long_running = LONG_RUNNING | components
    assert {name for name in long_running if "healthcheck" not in services[name]} == set()
    for name, service in services.items():
        if _command(service) in AIRFLOW_COMPONENTS.values():
            waits = service["depends_on"]
            assert waits["postgres"]["condition"] == waits["redis"]["condition"] == "service_healthy", name
            assert waits["airflow-init"]["condition"] == "service_completed_successfully", name
            assert waits["aws-init"]["condition"] == "service_completed_successfully", name


def test_the_airflow_services_are_configured_as_the_deployment_test_configures_them(compose):
    for name, service in compose["services"].items():
        if not service.get("build"):
            continue
        env = service["environment"]
        if name == "aws-init":
            assert _command(service)[:3] == ("python", "-m", "demo.seed"), "the emulator is seeded by demo/seed.py"
            continue
        assert env["AIRFLOW__CORE__EXECUTOR"] == EXECUTOR
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        assert "endpoint_url" in env["AIRFLOW_CONN_AWS_DEFAULT"] and env["EVIDENCE_BUCKET"]
        # The plugin is the wheel's entry point: a mounted plugins folder would shadow the installed package.
        assert not [volume for volume in service.get("volumes", []) if "plugins" in volume], name
    assert "postgres-db-volume" in compose["volumes"]


def test_the_image_is_the_official_airflow_image_with_the_wheel():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11" in dockerfile
    assert "FROM ${AIRFLOW_IMAGE}" in dockerfile
    # The image's own Airflow is named on the install line, so installing the wheel cannot move it.
    assert '"apache-airflow==${AIRFLOW_VERSION}" /tmp/dr-drill-dist/dr_drill-*.whl' in dockerfile


def _compose_client() -> list[str] | None:
    """`docker compose` (the plugin) or Debian's `docker-compose`, whichever this machine has."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_accepts_the_file():
    client = _compose_client()
    if client is None:
        pytest.skip("no docker compose client on this machine (.ci/run installs Debian's docker-compose)")
    # The file insists on an ownership secret (`:?`): give it one, as `docker compose up` needs.
    env = {**os.environ, "DR_DRILL_OWNERSHIP_SECRET": "0" * 64}
    checked = subprocess.run(
        [*client, "-f", str(COMPOSE_FILE), "config", "--quiet"], capture_output=True, text=True, env=env
    )
    assert checked.returncode == 0, checked.stderr
