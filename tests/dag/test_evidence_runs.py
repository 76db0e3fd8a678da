"""Whole-DAG evidence: locked, chained, complete records, their HTML reports, metrics and SNS."""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from airflow.sdk import DagRunState

from demo.run_demo import BACKUP_BUCKET
from demo.sample_data import json_backup_document, put_json_backup, receive_notifications, sample_items
from dr_drill.core.evidence.notification import METRIC_NAMES
from dr_drill.core.evidence.record import EVIDENCE_FOLDER, validate_evidence
from dr_drill.evidence import main as evidence_cli
from tests.dag.conftest import TABLE
from tests.dag.observe import drill_succeeded, evidence_records

pytestmark = pytest.mark.slow
LOCKED_BUCKET = "dr-drill-locked-evidence"


def _stored(aws, bucket: str) -> dict[str, bytes]:
    s3 = aws.client("s3")
    return {
        entry["Key"]: s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for entry in page.get("Contents", ())
    }


def test_two_nightly_drills_leave_locked_chained_records_with_reports(dag, aws, account, monkeypatch, capsys):
    aws.client("s3").create_bucket(Bucket=LOCKED_BUCKET, ObjectLockEnabledForBucket=True)
    monkeypatch.setenv("EVIDENCE_BUCKET", LOCKED_BUCKET)
    monkeypatch.setenv("EVIDENCE_RETENTION_DAYS", "30")

    assert dag.test().state == DagRunState.SUCCESS
    second_run = dag.test(run_conf={"table_name": TABLE})
    assert second_run.state == DagRunState.SUCCESS

    stored = _stored(aws, LOCKED_BUCKET)
    keys = sorted(key for key in stored if key.startswith(f"{EVIDENCE_FOLDER}/") and key.endswith(".json"))
    assert len(keys) == 2 and {key[:-5] + ".html" for key in keys} <= set(stored)
    first, second = (json.loads(stored[key]) for key in keys)
    for record in (first, second):
        validate_evidence(record)
        assert record["storage"]["object_lock"] is True and record["storage"]["retention_mode"] == "COMPLIANCE"
        retain_until = datetime.fromisoformat(record["storage"]["retain_until"])
        assert timedelta(days=29) < retain_until - datetime.now(UTC) <= timedelta(days=30)
        head = aws.client("s3").head_object(Bucket=LOCKED_BUCKET, Key=record["storage"]["key"])
        assert head["ObjectLockMode"] == "COMPLIANCE"
    assert first["previous_evidence_sha256"] is None and first["evidence_sequence"] == 1
    assert second["previous_evidence_sha256"] == first["evidence_sha256"] and second["evidence_sequence"] == 2

    # Who and what ran it, and the scratch table's life.
    # An unsplit restore is one mapped restore task, its one share: no restore task is left unused.
    steps = ("locate", "verify", "create", "restore", "validate", "drop", "restore_part_1", "scan_part_1")
    assert second["run"] == {
        "try_number": 1,
        "run_type": "manual",  # the nightly run's, which asked for the table run
        "triggering_user": "dag_test",
        "step_tries": dict.fromkeys(steps, 1),
        "table_dag_id": "dynamodb_restore_drill_table",
        "table_run_id": second_run.table_run(TABLE).run_id,
    }
    assert second["software"]["apache-airflow"].startswith("3.")
    assert second["plan_entry"]["table_name"] == TABLE and len(second["plan_entry_sha256"]) == 64
    assert second["backup_identity"]["bucket"] == BACKUP_BUCKET and second["backup_identity"]["etag"]
    timeline = second["timeline"]
    # RTO counts from the start of the scratch table's creation, so the restore "starts" before it exists.
    assert timeline["restore_started_at"] <= timeline["scratch_created_at"] <= timeline["validation_finished_at"]
    assert timeline["validation_finished_at"] <= timeline["scratch_deleted_at"]
    assert {c["result"] for c in second["checks"]} == {"passed"}

    # Scale and cost. 300 items over half the default RTO need no warm throughput; the table
    # reports the emulator's defaults for a new on-demand table.
    warm = second["scratch_table"]["warm_throughput"]
    assert warm["requested"] is None and warm["write_units_needed"] == 300 and warm["max_write_units_per_second"] > 0
    assert warm["reported"] == {"ReadUnitsPerSecond": 12000, "WriteUnitsPerSecond": 4000, "Status": "ACTIVE"}
    # The scratch table's size is 0 on the emulator (and on AWS until its six-hourly refresh): sized from the backup.
    scan = second["validation"]["scan"]
    assert (scan["segments"], scan["size_basis"], scan["size_bytes"]) == (4, "backup", second["backup"]["size_bytes"])
    assert scan["tasks"] == 1  # 4 segments: one scan task
    cost = second["cost"]
    # moto answers ConsumedCapacity 1.0 per BatchWriteItem call and per Scan page, whatever was
    # written or read: 12 batches of 25 items, and one page for each of the 4 segments.
    assert (cost["write_units"], cost["read_units"], scan["read_units"]) == (12.0, 4.0, 4.0)
    # Locate lists once; verify reads the backup twice, restore once, validate once.
    assert cost["s3_requests"] == {"put": 1, "get": 4, "free": 0, "by_operation": {"GetObject": 4, "ListObjectsV2": 1}}
    assert 0 < cost["scratch_table_hours"] < 1
    estimate = cost["estimate"]
    assert estimate["is_estimate"] is True and estimate["region"] == "us-east-1"
    assert not any("warm throughput" in line for line in estimate["not_priced"])  # none was asked
    assert estimate["usd"] == pytest.approx((12 * 0.625 + 4 * 0.125) / 1e6 + 0.005 / 1e3 + 4 * 0.0004 / 1e3)
    report = stored[keys[1][:-5] + ".html"].decode()
    assert TABLE in report and second["evidence_sha256"] in report and "COMPLIANCE" in report
    assert "Scale and cost" in report and "(an estimate)" in report

    metrics = aws.client("cloudwatch").list_metrics(Namespace="BackupDR/Recovery")["Metrics"]
    assert {m["MetricName"] for m in metrics} == set(METRIC_NAMES)
    assert all(m["Dimensions"] == [{"Name": "TableName", "Value": TABLE}] for m in metrics)

    envelopes = receive_notifications(aws.client("sqs"), account.queue_url)
    bodies = sorted((json.loads(e["Message"]) for e in envelopes), key=lambda body: body["drill_id"])
    assert [b["report_uri"] for b in bodies] == [f"s3://{LOCKED_BUCKET}/{key[:-5]}.html" for key in keys]
    assert bodies[1]["rto_met"] is True and bodies[1]["rpo_met"] is True

    assert (
        evidence_cli(["verify-chain", "--table", TABLE, "--bucket", LOCKED_BUCKET, "--endpoint-url", aws.endpoint_url])
        == 0
    )
    assert "chain intact, 2 records" in capsys.readouterr().out


def test_a_failed_drill_without_object_lock_says_so_and_names_step_and_reason(dag, aws, account, monkeypatch):
    monkeypatch.delenv("SUCCESS_TOPIC_ARN")  # only one topic: the failure still arrives there
    taken_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    document = json_backup_document(TABLE, sample_items(TABLE, 20), taken_at)
    document["item_count"] = 21
    put_json_backup(aws.client("s3"), BACKUP_BUCKET, document, taken_at)

    assert dag.test(run_conf={"table_name": TABLE}).state == DagRunState.FAILED

    stored = _stored(aws, "dr-drill-demo-evidence")
    [key] = [key for key in stored if key.startswith(f"{EVIDENCE_FOLDER}/") and key.endswith(".json")]
    record = json.loads(stored[key])
    validate_evidence(record)
    assert record["storage"]["object_lock"] is False and record["storage"]["retain_until"] is None
    assert record["failure"]["step"] == "verify"
    checks = {c["name"]: c["result"] for c in record["checks"]}
    assert checks["backup_checksum"] == "failed" and checks["restore_complete"] == "not_run"
    assert "not write-once" in stored[key[:-5] + ".html"].decode()

    [envelope] = receive_notifications(aws.client("sqs"), account.queue_url)
    assert envelope["TopicArn"] == account.failure_topic_arn
    body = json.loads(envelope["Message"])
    assert body["failure_step"] == "verify" and body["failure_reason"] == record["failure"]["reason"]
    assert f"FAILED at step verify: {record['failure']['reason']}" in body["summary"]
    assert body["report_uri"].endswith(".html")
    assert drill_succeeded(aws, TABLE) == [(0.0, 1.0)]


def test_evidence_that_cannot_be_stored_fails_the_drill_and_its_one_notification_says_so(
    dag, aws, account, monkeypatch
):
    monkeypatch.setenv("EVIDENCE_BUCKET", "dr-drill-no-such-bucket")  # the nightly backup of 300 items is sound

    assert dag.test(run_conf={"table_name": TABLE}).state == DagRunState.FAILED

    # A restore that passed is not a PASSED drill when nothing proves it: one FAILED notification.
    [envelope] = receive_notifications(aws.client("sqs"), account.queue_url)
    assert envelope["TopicArn"] == account.failure_topic_arn
    assert envelope["Subject"] == f"DR drill FAILED: {TABLE}"
    body = json.loads(envelope["Message"])
    assert body["evidence_stored"] is False and body["evidence_uri"] is None and body["report_uri"] is None
    assert body["failure_step"] == "record" and "NoSuchBucket" in body["failure_reason"]
    assert "Its evidence was NOT stored: " in body["summary"] and "NoSuchBucket" in body["evidence_not_stored_reason"]
    assert body["items_restored"] == 300
    assert drill_succeeded(aws, TABLE) == [(0.0, 1.0)]


def test_a_backup_too_big_for_a_new_tables_rate_is_restored_into_a_warmed_table(dag, aws, account):
    # 300 items of about 15 KB over a 1-second RTO (the restore's share: 1 s) need more write
    # units a second than the 4,000 a new on-demand table serves at once. The plan makes the
    # objectives advisory: no drill here restores and validates in 1 s.
    plan = f"tables:\n  {TABLE}: {{rto_target_seconds: 1, objectives_advisory: true}}\n"
    Path(os.environ["DRILL_PLAN_PATH"]).write_text(plan)
    taken_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    items = [{**item, "padding": "p" * 15_000} for item in sample_items(TABLE, 300)]
    put_json_backup(aws.client("s3"), BACKUP_BUCKET, json_backup_document(TABLE, items, taken_at), taken_at)

    assert dag.test(run_conf={"table_name": TABLE}).state == DagRunState.SUCCESS

    [record] = evidence_records(aws)
    warm = record["scratch_table"]["warm_throughput"]
    needed = math.ceil(record["backup"]["size_bytes"] / 1024)  # one unit per KB of the backup, at least
    assert warm["write_units_needed"] == warm["write_units_per_second_needed"] == needed > 4_000
    assert warm["requested"] == {"WriteUnitsPerSecond": needed}  # under the plan's cap, 40,000
    assert warm["reported"]["WriteUnitsPerSecond"] == needed  # what DescribeTable said of the new table
    assert record["restore"]["items_restored"] == 300 and record["validation"]["digest_match"] is True
    objectives = record["objectives"]
    assert objectives["rto_met"] is False and objectives["advisory"] is True
    # moto answers ConsumedCapacity 1.0 per call, whatever the items' size: 12 batches of 25.
    assert record["cost"]["write_units"] == 12.0 and record["cost"]["estimate"]["usd"] > 0
    # Warm throughput is billed on its own, and the estimate says it left it out.
    assert "warm throughput asked at creation: no list price in this table" in record["cost"]["estimate"]["not_priced"]
