"""Fixtures of the whole-DAG tests: a migrated metadata DB, the parsed DAG, and a seeded account."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from demo.run_demo import airflow_environment, seed_account
from tests.drills import NightlyDrill

TABLE = "app-users"


@pytest.fixture(autouse=True)
def _metadata_db(airflow_db):
    """Every DAG test needs the migrated metadata database."""
    return airflow_db


@pytest.fixture(scope="module")
def dag(airflow_db) -> NightlyDrill:
    """The nightly DAG; its ``test()`` also runs the table runs it asks for (tests.drills.NightlyDrill)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag()
    return NightlyDrill(bag.get_dag("dynamodb_restore_drill"), bag.get_dag("dynamodb_restore_drill_table"))


@pytest.fixture
def account(aws, airflow_db, monkeypatch, tmp_path):
    """``app-users`` with 300 items and two nightly backups, and the settings the DAG reads."""
    seeded = seed_account(aws, {TABLE: 300}, now=datetime.now(UTC), nights=2)
    env = airflow_environment(aws, seeded, airflow_db)
    for name in ("BACKUP_BUCKET", "EVIDENCE_BUCKET", "SUCCESS_TOPIC_ARN", "FAILURE_TOPIC_ARN"):
        monkeypatch.setenv(name, env[name])
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"tables:\n  {TABLE}: {{}}\n")
    monkeypatch.setenv("DRILL_PLAN_PATH", str(plan))
    return seeded
