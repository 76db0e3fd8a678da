"""Issue 4 in the whole DAG: the evidence's restore and scratch-table figures, keep_scratch_table, the sweep."""

from __future__ import annotations

import pytest
from airflow.sdk import DagRunState

from dr_drill.core.restore.scratch import scratch_tags
from tests.dag.conftest import TABLE
from tests.dag.observe import evidence_records, scratch_tables, source_and_backups

pytestmark = pytest.mark.slow


def test_kept_scratch_table_is_said_so_and_the_sweep_leaves_young_and_foreign_tables(dag, aws, account):
    ddb = aws.client("dynamodb")
    keys = {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    ddb.create_table(TableName="drill-young-other-run", Tags=scratch_tags(TABLE, "other-run"), **keys)
    ddb.create_table(TableName="drill-not-a-scratch-table", **keys)
    before = source_and_backups(aws, TABLE)

    run = dag.test(run_conf={"table_name": TABLE, "keep_scratch_table": True, "sweep_max_age_hours": 1})

    assert run.state == DagRunState.SUCCESS
    assert run.get_task_instance("sweep_scratch_tables").state == "success"
    [record] = evidence_records(aws)
    restore = record["restore"]
    assert restore["method"] == "batch_write" and restore["workers"] == 16
    assert restore["items_restored"] == 300 and restore["items_per_second"] > 0
    assert restore["duplicate_keys"] == 0 and restore["rejected_items"] == []
    scratch = record["scratch_table"]
    assert scratch["kept"] is True and scratch["deleted"] is False and scratch["deleted_at"] is None
    assert scratch["created_at"] is not None
    assert sorted(scratch_tables(aws)) == sorted(
        [scratch["name"], "drill-young-other-run", "drill-not-a-scratch-table"]
    )
    assert source_and_backups(aws, TABLE) == before


def test_the_sweep_runs_first_and_can_never_block_or_decide_the_drills(dag):
    assert [task.task_id for task in dag.roots] == ["sweep_scratch_tables"]
    assert dag.get_task("plan_drills").trigger_rule == "all_done"
    assert [task.task_id for task in dag.leaves] == ["drill.verdict"]
    assert dag.params["sweep_max_age_hours"] == 24
