"""Whole-DAG runs with dag.test() against the emulator server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk import DagRunState

from demo.run_demo import BACKUP_BUCKET, EVIDENCE_BUCKET, seed_account
from demo.sample_data import json_backup_document, json_backup_key, put_json_backup, receive_notifications, sample_items
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
    records = {record["table_name"]: record for record in evidence_records(aws)}
    assert set(records) == {TABLE, "orders"}
    assert records["orders"]["validation"]["restored_items"] == 120
    assert len(receive_notifications(aws.client("sqs"), account.queue_url)) >= 2
    assert scratch_tables(aws) == []


def test_one_failed_table_fails_the_run_but_not_the_other_drill(dag, aws, account):
    run = dag.test(run_conf={"tables": [TABLE, "no-such-table"]})

    assert run.state == DagRunState.FAILED
    records = {record["table_name"]: record for record in evidence_records(aws)}
    assert records[TABLE]["status"] == "passed"
    assert records["no-such-table"]["status"] == "failed"
    assert records["no-such-table"]["failure"]["step"] == "locate"
    assert "no backup of table no-such-table" in records["no-such-table"]["failure"]["reason"]
