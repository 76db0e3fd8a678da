"""The sweep in whole-DAG runs: the next run removes the tables of runs Airflow records as over.

Run 1 keeps its scratch table on purpose; then a crash of run 1 is simulated by an owned
table of it that no teardown removed, beside an owned table of a run Airflow has no record
of and a hand-tagged table naming run 1. Run 2's sweep asks Airflow (through the Task SDK)
for run 1's state and removes only the crash orphan; everything else is young and stays.
"""

from __future__ import annotations

import pytest
from airflow.sdk import DagRunState

from dr_drill.aws.scratch_tables import create_scratch_table, describe_table
from dr_drill.core.restore.scratch import scratch_table_name, scratch_tags
from tests.dag.conftest import TABLE
from tests.dag.observe import evidence_records, scratch_tables, source_and_backups
from tests.drills import DAG_ID, OWNER_KEY
from tests.snapshots import table_items

pytestmark = pytest.mark.slow
KEYS = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
}


def _owned_table(ddb, source: str, run_id: str) -> str:
    """An owned scratch table of ``source`` in ``run_id``, as a create step that then crashed left it."""
    name = scratch_table_name(source, run_id)
    create_scratch_table(
        ddb, name, source_table=source, schema=KEYS, prefix="drill-", dag_id=DAG_ID, run_id=run_id, key=OWNER_KEY
    )
    return name


def test_the_next_runs_sweep_removes_the_orphan_of_a_finished_run_and_nothing_else(dag, aws, account):
    ddb = aws.client("dynamodb")
    first = dag.test(run_conf={"table_name": TABLE, "keep_scratch_table": True})
    assert first.state == DagRunState.SUCCESS
    [kept] = scratch_tables(aws)

    orphan = _owned_table(ddb, "orders", first.nightly.run_id)
    no_record = _owned_table(ddb, "orders", "manual__2026-11-01T00:00:00+00:00")
    hand_made = scratch_table_name("payments", first.nightly.run_id)
    ddb.create_table(
        TableName=hand_made, Tags=scratch_tags("payments", first.nightly.run_id), BillingMode="PAY_PER_REQUEST", **KEYS
    )
    ddb.put_item(TableName=hand_made, Item={"pk": {"S": "someone's data"}})
    before = source_and_backups(aws, TABLE)
    someones_data = table_items(ddb, hand_made)

    second = dag.test(run_conf={"table_name": TABLE})  # sweep_max_age_hours: 24, so age deletes none of them

    assert second.state == DagRunState.SUCCESS
    assert second.get_task_instance("sweep_scratch_tables").state == "success"
    assert describe_table(ddb, orphan) is None
    assert sorted(scratch_tables(aws)) == sorted([kept, no_record, hand_made])
    assert len(someones_data) == 1 and table_items(ddb, hand_made) == someones_data
    assert [record["status"] for record in evidence_records(aws)] == ["passed", "passed"]
    assert source_and_backups(aws, TABLE) == before
