"""Shared fixtures: one moto server process for the session, and an Airflow home of its own.

Airflow reads its configuration when first imported, so the environment is set here,
before any test module imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="dr-drill-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # The drill's ownership secret (a deployment keeps it in a secrets backend): tests.drills.OWNER_KEY.
        "DR_DRILL_OWNERSHIP_SECRET": "tests-only-ownership-secret-0123456789abcdef",
    }
)
for _name in ("BACKUP_BUCKET", "EVIDENCE_BUCKET", "SUCCESS_TOPIC_ARN", "FAILURE_TOPIC_ARN", "DRILL_PLAN_PATH"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """A real moto server on 127.0.0.1, reached over HTTP, stopped at the end of the session."""
    with Emulator(log_path=tmp_path_factory.mktemp("moto") / "moto.log") as server:
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = server.airflow_connection()
        yield server


@pytest.fixture
def aws(emulator: Emulator) -> Emulator:
    """The emulator, emptied before the test."""
    emulator.reset()
    return emulator


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata database in this session's own AIRFLOW_HOME."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], check=True, stdout=subprocess.DEVNULL, env=os.environ.copy())
    return _AIRFLOW_HOME


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the deployment test first: it holds one worker for about six minutes.

    With ``--dist worksteal`` (pyproject.toml) the other worker starts on the rest at once,
    and whichever runs out first takes tests from the other's queue, so the suite ends when
    the work does; dealt as collected, the deployment test came last on a worker and the
    other stood idle for minutes.
    """
    items.sort(key=lambda item: item.get_closest_marker("deployment") is None)  # stable: the rest keep their order
