"""Whole-DAG drills of S3 backups under dag.test(): nightly and manual runs, failures, s3_export, the backup chosen.

A kept scratch table, and the sweep that leaves young and foreign tables alone, are drilled here too.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from airflow.sdk import DagRunState

from demo.run_demo import BACKUP_BUCKET, EVIDENCE_BUCKET, seed_account
from demo.sample_data import json_backup_document, json_backup_key, put_json_backup, receive_notifications, sample_items
from demo.sample_exports import put_export, typed_items
from dr_drill.constants import DEFAULT_RESTORE_WORKERS
from dr_drill.core.restore.scratch import scratch_tags
from tests.dag.conftest import TABLE
from tests.dag.observe import evidence_records, scratch_tables, source_and_backups

pytestmark = pytest.mark.slow


def test_nightly_run_drills_the_plan_and_records_evidence_metrics_and_notification(dag, aws, account):
    before = source_and_backups(aws, TABLE)

    run = dag.test()  # no conf: the tables come from the drill plan

    assert run.state == DagRunState.SUCCESS
    [record] = evidence_records(aws)
    assert record["status"] == "passed"
    assert record["failure"] is None
    assert record["backup"]["checksum_verified"] is True
    assert record["backup"]["item_count"] == 300
    assert record["restore"]["items_restored"] == 300
    validation = record["validation"]
    assert (validation["passed"], validation["expected_items"], validation["restored_items"]) == (True, 300, 300)
    assert validation["digest_match"] is True and validation["items_proven"] == 300
    assert record["scratch_table"]["deleted"] is True
    assert record["objectives"]["rto_met"] is True and record["objectives"]["rpo_met"] is True
    assert record["_uri"].startswith(f"s3://{EVIDENCE_BUCKET}/dr-drill-evidence/{TABLE}/")

    metrics = aws.client("cloudwatch").list_metrics(Namespace="BackupDR/Recovery")["Metrics"]
    assert {m["MetricName"] for m in metrics} >= {"ItemsRestored", "FailedItems", "RecoveryValidationRate"}
    assert all(m["Dimensions"] == [{"Name": "TableName", "Value": TABLE}] for m in metrics)

    [envelope] = receive_notifications(aws.client("sqs"), account.queue_url)
    assert envelope["TopicArn"] == account.success_topic_arn
    assert len(envelope["Subject"]) < 100 and TABLE in envelope["Subject"] and "PASSED" in envelope["Subject"]
    body = json.loads(envelope["Message"])
    assert body["status"] == "passed" and body["table_name"] == TABLE
    assert body["drill_id"] == record["drill_id"] and body["evidence_uri"] == record["_uri"]
    assert envelope["MessageAttributes"]["status"]["Value"] == "passed"
    assert envelope["MessageAttributes"]["table_name"]["Value"] == TABLE

    assert scratch_tables(aws) == []
    assert source_and_backups(aws, TABLE) == before


def test_corrupt_checksum_fails_the_run_and_says_why(dag, aws, account):
    taken_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    document = json_backup_document(TABLE, sample_items(TABLE, 50), taken_at)
    document["checksum"] = "0" * 64
    key = put_json_backup(aws.client("s3"), BACKUP_BUCKET, document, taken_at)
    assert key == json_backup_key(TABLE, taken_at)
    before = source_and_backups(aws, TABLE)

    run = dag.test(run_conf={"table_name": TABLE})

    assert run.state == DagRunState.FAILED
    [record] = evidence_records(aws)
    assert record["status"] == "failed"
    assert record["failure"]["step"] == "verify"
    assert "checksum" in record["failure"]["reason"]
    assert record["backup"]["location"] == f"s3://{BACKUP_BUCKET}/{key}"
    assert record["backup"]["checksum_verified"] is False

    [envelope] = receive_notifications(aws.client("sqs"), account.queue_url)
    assert envelope["TopicArn"] == account.failure_topic_arn
    body = json.loads(envelope["Message"])
    assert body["status"] == "failed" and "checksum" in body["failure_reason"]
    assert "user-0000" not in envelope["Message"]  # no item contents

    assert scratch_tables(aws) == []
    assert source_and_backups(aws, TABLE) == before


def test_manual_trigger_with_exactly_the_original_keys(dag, aws, account):
    # The older night may be over a day old: this table's plan allows a 3-day RPO.
    Path(os.environ["DRILL_PLAN_PATH"]).write_text(f"tables:\n  {TABLE}: {{rpo_target_seconds: 259200}}\n")
    older = sorted(entry["Key"] for entry in aws.client("s3").list_objects_v2(Bucket=BACKUP_BUCKET)["Contents"])[0]

    run = dag.test(
        run_conf={"table_name": TABLE, "backup_bucket": BACKUP_BUCKET, "backup_file": older, "batch_size": 7}
    )

    assert run.state == DagRunState.SUCCESS
    [record] = evidence_records(aws)
    assert record["backup"]["location"] == f"s3://{BACKUP_BUCKET}/{older}"
    assert record["restore"]["items_restored"] == record["backup"]["item_count"] == 290  # the older, smaller night
    assert scratch_tables(aws) == []


def test_several_tables_run_as_mapped_drills(dag, aws, account, monkeypatch):
    seed_account(aws, {"orders": 120}, now=datetime.now(UTC), nights=1)

    run = dag.test(run_conf={"tables": [TABLE, "orders"]})

    assert run.state == DagRunState.SUCCESS
    # The nightly run's mapped drill task asked for one table run per table.
    drills = [ti for ti in run.nightly.get_task_instances() if ti.task_id == "drill"]
    assert sorted(ti.map_index for ti in drills) == [0, 1]
    assert {name: table_run.state for name, table_run in run.tables.items()} == {
        TABLE: DagRunState.SUCCESS,
        "orders": DagRunState.SUCCESS,
    }
    records = {record["table_name"]: record for record in evidence_records(aws)}
    assert set(records) == {TABLE, "orders"}
    assert records["orders"]["validation"]["restored_items"] == 120
    assert len(receive_notifications(aws.client("sqs"), account.queue_url)) >= 2
    assert scratch_tables(aws) == []


def test_one_failed_table_fails_the_run_but_not_the_other_drill(dag, aws, account):
    run = dag.test(run_conf={"tables": [TABLE, "no-such-table"]})

    assert run.state == DagRunState.FAILED
    assert run.table_run(TABLE).state == DagRunState.SUCCESS
    assert run.table_run("no-such-table").state == DagRunState.FAILED
    records = {record["table_name"]: record for record in evidence_records(aws)}
    assert records[TABLE]["status"] == "passed"
    assert records["no-such-table"]["status"] == "failed"
    assert records["no-such-table"]["failure"]["step"] == "locate"
    assert "no backup of table no-such-table" in records["no-such-table"]["failure"]["reason"]


# --- an s3_export drill, and the choice of backup ---


def test_an_s3_export_drill_passes_end_to_end(dag, aws, account):
    s3 = aws.client("s3")
    now = datetime.now(UTC).replace(microsecond=0)
    put_export(
        s3, BACKUP_BUCKET, "exports/app-users", TABLE, typed_items(sample_items(TABLE, 250)), now - timedelta(days=2)
    )
    newest = put_export(
        s3, BACKUP_BUCKET, "exports/app-users", TABLE, typed_items(sample_items(TABLE, 300)), now - timedelta(hours=3)
    )
    before = source_and_backups(aws, TABLE)

    run = dag.test(run_conf={"table_name": TABLE, "backup_source": "s3_export", "export_prefix": "exports/app-users"})

    assert run.state == DagRunState.SUCCESS
    [record] = evidence_records(aws)
    backup = record["backup"]
    assert record["status"] == "passed"
    assert backup["source"] == "s3_export" and backup["export_arn"] == newest.export_arn
    assert backup["item_count"] == 300 and backup["checksum_verified"] is True
    assert backup["candidates_considered"] == 2 and backup["selection"]["policy"] == "latest"
    assert backup["backup_timestamp"] == (now - timedelta(hours=3)).isoformat()
    assert backup["size_bytes"] > 0 and backup["effective_rpo_seconds"] is None
    assert record["restore"]["items_restored"] == 300
    assert record["validation"]["restored_items"] == 300
    assert 3 * 3600 <= record["objectives"]["rpo_seconds"] < 3 * 3600 + 600
    assert scratch_tables(aws) == []
    assert source_and_backups(aws, TABLE) == before


@pytest.mark.parametrize("reader", ["on", "off", "of"])
def test_the_reader_process_setting_reads_apart_or_in_the_task_and_refuses_a_typo(
    dag, aws, account, monkeypatch, reader
):
    import dr_drill.aws.read_apart as reading

    forked, read_apart = [], reading.read_apart

    def counted(*args, **kwargs):
        forked.append(1)
        return read_apart(*args, **kwargs)

    monkeypatch.setattr(reading, "read_apart", counted)
    monkeypatch.setenv("DR_DRILL_READER_PROCESS", reader)

    run = dag.test(run_conf={"table_name": TABLE})

    [record] = evidence_records(aws)
    if reader == "of":
        assert run.state == DagRunState.FAILED and record["failure"]["step"] == "restore"
        reason = "restore_part (part 1 of 1): DR_DRILL_READER_PROCESS is 'of': it is 'on' (the default) or 'off'"
        assert record["failure"]["reason"] == reason
        assert record["restore"]["items_restored"] in (None, 0)
    else:
        assert run.state == DagRunState.SUCCESS and record["validation"]["digest_match"] is True
        assert record["restore"]["items_restored"] == 300
        assert forked == ([1] if reader == "on" else [])
    assert scratch_tables(aws) == []


def test_a_failing_newest_backup_fails_the_drill_and_records_the_effective_rpo(dag, aws, account):
    s3 = aws.client("s3")
    newest_good = max(e["Key"] for e in s3.list_objects_v2(Bucket=BACKUP_BUCKET)["Contents"])
    taken_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    document = json_backup_document(TABLE, sample_items(TABLE, 50), taken_at)
    document["item_count"] = 49
    bad = put_json_backup(s3, BACKUP_BUCKET, document, taken_at)
    before = source_and_backups(aws, TABLE)

    run = dag.test(run_conf={"table_name": TABLE})

    assert run.state == DagRunState.FAILED
    [record] = evidence_records(aws)
    backup = record["backup"]
    assert record["failure"]["step"] == "verify" and "item_count says 49" in record["failure"]["reason"]
    assert backup["location"] == f"s3://{BACKUP_BUCKET}/{bad}" == backup["selection"]["choice"]
    assert backup["newest_verified_location"] == f"s3://{BACKUP_BUCKET}/{newest_good}"
    assert newest_good in record["failure"]["reason"]
    started = datetime.fromisoformat(record["generated_at"])
    good_time = datetime.strptime(newest_good[-24:-5], "%Y-%m-%d-%H-%M-%S").replace(tzinfo=UTC)
    assert backup["effective_rpo_seconds"] == pytest.approx((started - good_time).total_seconds(), abs=600)
    assert backup["effective_rpo_seconds"] > record["objectives"]["rpo_seconds"]
    assert record["restore"]["items_restored"] == 0
    assert scratch_tables(aws) == []
    assert source_and_backups(aws, TABLE) == before


def test_a_random_choice_is_recorded_so_it_can_be_replayed(dag, aws, account):
    selection = {"policy": "random_within_days", "days": 5, "seed": 42}
    # The draw may pick the older night, over a day old: a 3-day RPO target keeps the objectives met.
    run = dag.test(run_conf={"table_name": TABLE, "selection": selection, "rpo_target_seconds": 3 * 86400})

    assert run.state == DagRunState.SUCCESS
    [record] = evidence_records(aws)
    selection = record["backup"]["selection"]
    assert selection["policy"] == "random_within_days" and selection["seed"] == 42
    assert selection["choice"] == record["backup"]["location"]
    assert selection["candidates_in_window"] == 2


# --- the scratch table kept, and the sweep ---


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
    assert restore["method"] == "batch_write" and restore["workers"] == DEFAULT_RESTORE_WORKERS
    assert restore["items_restored"] == 300 and restore["items_per_second"] > 0
    assert restore["duplicate_keys"] == 0 and restore["rejected_items"] == []
    scratch = record["scratch_table"]
    assert scratch["kept"] is True and scratch["deleted"] is False and scratch["deleted_at"] is None
    assert scratch["created_at"] is not None
    assert sorted(scratch_tables(aws)) == sorted(
        [scratch["name"], "drill-young-other-run", "drill-not-a-scratch-table"]
    )
    assert source_and_backups(aws, TABLE) == before
