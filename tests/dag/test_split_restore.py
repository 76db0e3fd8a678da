"""Whole-DAG split restores: a large s3_export restored by several restore tasks that combine into one result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk import DagRunState

from demo.run_demo import BACKUP_BUCKET
from demo.sample_data import sample_items
from demo.sample_exports import put_export, typed_items
from dr_drill.constants import DEFAULT_RESTORE_WORKERS
from dr_drill.core.report.html import render_drill_report
from tests.dag.conftest import TABLE
from tests.dag.observe import evidence_records, scratch_tables, source_and_backups

pytestmark = pytest.mark.slow
PREFIX = "exports/app-users"
CONF = {"table_name": TABLE, "backup_source": "s3_export", "export_prefix": PREFIX, "restore_tasks": 3}


def _states(run) -> dict[str, str]:
    """The table run's restore tasks' states: ``restore_part[i]`` for each mapped instance, and ``restore``."""
    return {
        f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: ti.state
        for ti in run.table_run(TABLE).get_task_instances()
        if ti.task_id.startswith("restore")
    }


def _put_export(aws, items):
    # Three data files with items and one empty: 4 files dealt to 3 tasks.
    now = datetime.now(UTC).replace(microsecond=0)
    return put_export(aws.client("s3"), BACKUP_BUCKET, PREFIX, TABLE, items, now - timedelta(hours=1))


def test_an_export_split_over_three_restore_tasks_is_restored_and_proven_whole(dag, aws, account):
    export = _put_export(aws, typed_items(sample_items(TABLE, 300)))
    assert len(export.data_keys) == 4
    before = source_and_backups(aws, TABLE)

    run = dag.test(run_conf=CONF)

    assert run.state == DagRunState.SUCCESS
    # The restore task is mapped over the shares plan_restore dealt out: exactly one instance per
    # share, every one of which restores something (no skipped instance, none left over).
    shares = run.get_task_instance("plan_restore").xcom_pull(task_ids="plan_restore")
    assert [(share["part"], share["of"]) for share in shares] == [(1, 3), (2, 3), (3, 3)]
    assert [len(share["data_files"]) for share in shares] == [2, 1, 1]  # 4 files dealt round-robin
    assert _states(run) == {
        "restore_part[0]": "success",
        "restore_part[1]": "success",
        "restore_part[2]": "success",
        "restore": "success",
    }
    assert "skipped" not in {ti.state for ti in run.get_task_instances()}
    [record] = evidence_records(aws)
    assert record["status"] == "passed"
    restore = record["restore"]
    assert restore["tasks"] == 3 and restore["workers"] == 3 * DEFAULT_RESTORE_WORKERS
    assert restore["items_restored"] == 300 and restore["items_failed"] == 0
    writers = 3 * DEFAULT_RESTORE_WORKERS
    # The cap is the plan's; how many requests were in flight is measured (each task's peak, added).
    assert 3 <= restore["peak_in_flight"] <= writers
    peak = restore["peak_in_flight"]
    how = f"batch_write, split over 3 tasks, at most {writers} requests in flight, {peak} reached"
    assert how in render_drill_report(record)
    # The write units the three tasks' answers reported add up: 4 batches of 25 items each, at
    # moto's 1.0 per BatchWriteItem call (one task alone would show 4).
    assert record["cost"]["write_units"] == 12.0
    # The content proof compares the digest merged from the three tasks with the restored table's.
    validation = record["validation"]
    assert validation["digest_match"] is True and validation["restored_items"] == 300
    assert scratch_tables(aws) == []
    assert source_and_backups(aws, TABLE) == before


def test_a_split_uses_only_the_tasks_its_files_need(dag, aws, account):
    # The plan allows 8 restore tasks, the export has 4 data files: 4 tasks, none more.
    _put_export(aws, typed_items(sample_items(TABLE, 300)))

    run = dag.test(run_conf={**CONF, "restore_tasks": 8})

    assert run.state == DagRunState.SUCCESS
    assert _states(run) == {**{f"restore_part[{index}]": "success" for index in range(4)}, "restore": "success"}
    [record] = evidence_records(aws)
    assert record["restore"]["tasks"] == 4 and record["restore"]["items_restored"] == 300
    assert scratch_tables(aws) == []


def _index_by_name(aws):
    aws.client("dynamodb").update_table(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": "user_id", "AttributeType": "S"},
            {"AttributeName": "name", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "by-name",
                    "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            }
        ],
    )


def test_a_failing_share_fails_the_drill_naming_its_task_and_the_others_still_restore(dag, aws, account):
    # An index key DynamoDB refuses (an empty string) but that verify, checking the table's own
    # keys only, lets through: the share holding it (item 1 is in the 2nd file) fails at the restore.
    _index_by_name(aws)
    items = typed_items(sample_items(TABLE, 300))
    items[1]["name"] = {"S": ""}
    _put_export(aws, items)
    before = source_and_backups(aws, TABLE)

    run = dag.test(run_conf=CONF)

    assert run.state == DagRunState.FAILED
    states = _states(run)
    assert set(states) == {"restore_part[0]", "restore_part[1]", "restore_part[2]", "restore"}
    assert states["restore_part[1]"] == "failed" and states["restore"] == "failed"
    assert states["restore_part[0]"] == states["restore_part[2]"] == "success"
    [record] = evidence_records(aws)
    failure = record["failure"]
    assert failure["step"] == "restore"
    assert failure["reason"].startswith("restore_part (part 2 of 3): 1 of 100 items could not be written")
    assert record["restore"]["items_failed"] == 1 and len(record["restore"]["rejected_items"]) == 1
    assert scratch_tables(aws) == []  # the teardown still ran
    assert source_and_backups(aws, TABLE) == before


def test_more_restore_tasks_than_the_schema_allows_is_refused_naming_the_field(dag):
    # The DAG has no fixed restore slots any more: the plan setting's own maximum (32) is the cap.
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="restore_tasks"):
        dag.test(run_conf={**CONF, "restore_tasks": 33})
