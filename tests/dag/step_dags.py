"""Drill steps run on their own: the source table ``ledger``, a small DAG of the scratch and restore operators.

``server_side_dag`` builds setup, restore and teardown around one spec and registers the DAG in the
metadata DB so that ``dag.test()`` runs it; ``FakeTI`` stands in for the task instance an operator's
``run`` reads its claims from and pushes its own to.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from dr_drill.core.items.canonical import to_typed_item
from tests.drills import drill_spec

SOURCE = "ledger"


def create_source(ddb, items=40):
    """Create ``ledger``, keyed by pk, holding ``items`` items."""
    ddb.create_table(
        TableName=SOURCE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for number in range(items):
        ddb.put_item(TableName=SOURCE, Item=to_typed_item({"pk": f"k{number}", "amount": number}))


def step_spec(run_id, scratch_table=None, keep=False, source="native_backup"):
    """Return, as XCom holds it, the spec of a drill of ``ledger`` in run ``run_id``."""
    spec = drill_spec(SOURCE, run_id=run_id, backup_source=source, keep_scratch_table=keep, restore_workers=4)
    if scratch_table:
        spec = dataclasses.replace(spec, scratch_table=scratch_table)
    return spec.to_xcom()


def located_backup(source="native_backup", **fields):
    """Return, as XCom holds it, the located backup of ``source`` with these fields."""
    located = {"location": fields.get("backup_arn", "x"), "candidates_considered": 1, "selection": {"policy": "latest"}}
    return {**located, "source": source, **fields}


def server_side_dag(dag_id, spec, located, timeout=timedelta(minutes=5)):
    """Return a DAG of create_scratch_table >> restore >> drop_scratch_table (its teardown), known to the DB."""
    from airflow.sdk import DAG

    from dr_drill.operators.restore import RestoreBackupOperator
    from dr_drill.operators.scratch import CreateScratchTableOperator, DropScratchTableOperator

    with DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)) as dag:
        create = CreateScratchTableOperator(task_id="create_scratch_table", spec=spec, located=located)
        # moto imports in a thread of its own: look again soon rather than after the default 10 s.
        restore = RestoreBackupOperator(
            task_id="restore",
            spec=spec,
            located=located,
            scratch=create.output,
            server_side_timeout=timeout,
            check_interval=0.2,
        )
        drop = DropScratchTableOperator(
            task_id="drop_scratch_table",
            spec=spec,
            claim_task_ids=[create.task_id, restore.task_id],
            check_interval=0.2,
        )
        create >> restore >> drop
        drop.as_teardown(setups=create)
    _serialize(dag)
    return dag


def _serialize(dag):
    """dag.test() runs only DAGs the metadata DB knows; this one lives in the test, not the DAG folder."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
        session.commit()
        update_dag_parsing_results_in_db(
            "dags-folder", None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(), session=session
        )


class FakeTI:
    """A task instance holding the XComs ``claims`` by key."""

    map_index = -1

    def __init__(self, claims):
        self.claims = claims

    def xcom_pull(self, task_ids, key, map_indexes=None):
        # As Airflow's: a list of tasks gets a list back, one value per task.
        if isinstance(task_ids, list):
            return [self.claims.get(key) for _ in task_ids]
        return self.claims.get(key)

    def xcom_push(self, key, value):
        self.claims[key] = value
