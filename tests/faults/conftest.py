"""Fixtures of the fault tests: the proxy in front of the emulator, and a canary account drilled through it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from demo.run_demo import BACKUP_BUCKET
from tests.drills import NightlyDrill
from tests.faults.canary import EVIDENCE_BUCKET, TABLE, CanaryAccount, seed_canary_account
from tests.faults.outcome import DAG_ID, TABLE_DAG_ID
from tests.faults.proxy import FaultProxy

ITEMS = 400  # 16 batches of 25: enough for mid-restore triggers, small enough for a quick matrix
# Airflow's whole-task retry waits this long instead of the DAG's minute: when a case needs the
# last resort, it still happens (and is seen in the try numbers), without idling the suite.
TASK_RETRY_DELAY = timedelta(seconds=2)


@pytest.fixture
def proxy(aws) -> Iterator[FaultProxy]:
    """A fault proxy in front of the emulator, with no rule switched on yet; stopped after the test."""
    with FaultProxy(aws.endpoint_url) as running:
        yield running


@pytest.fixture
def drilled_through(proxy, monkeypatch) -> FaultProxy:
    """Every AWS call of the DAG goes through the proxy (the Airflow connection's endpoint_url)."""
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", proxy.airflow_connection())
    return proxy


@pytest.fixture(scope="module")
def fault_dag(airflow_db) -> NightlyDrill:
    """Both DAGs as the DagBag parses them, with the whole-task retry delay cut to ``TASK_RETRY_DELAY``.

    Its ``test()`` runs the nightly run, then the table run it asked for (tests.drills.NightlyDrill).
    """
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag()
    drill = NightlyDrill(bag.get_dag(DAG_ID), bag.get_dag(TABLE_DAG_ID))
    for dag in (drill.dag, drill.table_dag):
        for task in dag.tasks:
            if task.retries:
                task.retry_delay = TASK_RETRY_DELAY
    return drill


@pytest.fixture
def canary_account(aws, airflow_db, monkeypatch, tmp_path) -> CanaryAccount:
    """``app-users`` with canary items and two nightly backups, a locked evidence bucket, topics and a queue."""
    seeded = seed_canary_account(aws, ITEMS, now=datetime.now(UTC))
    monkeypatch.setenv("BACKUP_BUCKET", BACKUP_BUCKET)
    monkeypatch.setenv("EVIDENCE_BUCKET", EVIDENCE_BUCKET)
    monkeypatch.setenv("EVIDENCE_RETENTION_MODE", "GOVERNANCE")
    monkeypatch.setenv("EVIDENCE_RETENTION_DAYS", "1")
    # Each request's retry window: past the matrix's 20 s outage (which the steps must ride out),
    # short of the default 120 s, so that the faults that last fail their steps sooner.
    monkeypatch.setenv("RETRY_WINDOW_SECONDS", "30")
    monkeypatch.setenv("SUCCESS_TOPIC_ARN", seeded.success_topic_arn)
    monkeypatch.setenv("FAILURE_TOPIC_ARN", seeded.failure_topic_arn)
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"tables:\n  {TABLE}: {{batch_size: 25}}\n")
    monkeypatch.setenv("DRILL_PLAN_PATH", str(plan))
    return seeded
