"""Evidence records match the published schema; notifications carry figures, never items."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import jsonschema
import pytest

from dr_drill.core.evidence.notification import (
    metric_data,
    notification_attributes,
    notification_message,
    notification_subject,
    notification_topic,
)
from dr_drill.core.evidence.record import build_evidence, validate_evidence

SPEC = {
    "drill_id": "20261126T020000Z-0123456789ab",
    "dag_id": "dynamodb_restore_drill",
    "run_id": "scheduled__2026-11-26T02:00:00+00:00",
    "started_at": "2026-11-26T02:00:00+00:00",
    "table_name": "app-users",
    "backup_source": "s3_json",
    "scratch_table": "drill-app-users-scheduled-abc",
    "rto_target_seconds": 60,
    "rpo_target_seconds": 86400,
    "backup_bucket": "b",
    "backup_file": None,
    "batch_size": 25,
    "keep_scratch_table": False,
    "scratch_prefix": "drill-",
    "evidence_bucket": "evidence",
    "success_topic_arn": None,
    "failure_topic_arn": None,
}
LOCATED = {
    "source": "s3_json",
    "location": "s3://b/dynamodb-backups/app-users-backup-2026-11-25-01-30-00.json",
    "name_timestamp": "2026-11-25T01:30:00+00:00",
    "candidates_considered": 3,
    "selection": {"policy": "latest", "choice": "s3://b/dynamodb-backups/app-users-backup-2026-11-25-01-30-00.json"},
}
VERIFIED = {"backup_timestamp": "2026-11-25T01:30:00", "item_count": 10, "checksum_verified": True}
RESTORED = {
    "method": "batch_write",
    "items_restored": 10,
    "items_failed": 0,
    "started_at": "2026-11-26T02:00:10+00:00",
    "finished_at": "2026-11-26T02:00:40+00:00",
}
VALIDATED = {"passed": True, "expected_items": 10, "restored_items": 10, "finished_at": "2026-11-26T02:01:20+00:00"}
NOW = datetime(2026, 11, 26, 2, 2, tzinfo=UTC)


def _record(**steps):
    parts = {
        "located": LOCATED,
        "verified": VERIFIED,
        "restored": RESTORED,
        "validated": VALIDATED,
        "scratch_deleted": True,
        "failure": None,
    } | steps
    return build_evidence(SPEC, generated_at=NOW, **parts)


def test_a_passed_drill_measures_rto_and_rpo_against_targets():
    record = _record()
    validate_evidence(record)
    assert record["status"] == "passed"
    assert record["objectives"] == {
        "rto_target_seconds": 60,
        "rto_seconds": 70.0,
        "rto_met": False,  # restore start to validation end
        "rpo_target_seconds": 86400,
        "rpo_seconds": 88200.0,
        "rpo_met": False,  # drill start minus backup time
    }
    assert record["restore"]["duration_seconds"] == 30.0


def test_a_drill_failed_at_verify_is_still_a_valid_record():
    failure = {"step": "verify", "reason": "checksum mismatch"}
    record = _record(verified=None, restored=None, validated=None, failure=failure)
    validate_evidence(record)
    assert record["status"] == "failed" and record["failure"] == failure
    assert record["backup"]["checksum_verified"] is False
    assert record["objectives"]["rto_seconds"] is None and record["objectives"]["rto_met"] is None
    assert record["objectives"]["rpo_seconds"] == 88200.0  # from the name of the located backup


def test_a_record_that_breaks_the_schema_is_refused():
    record = _record()
    record["status"] = "ok"
    with pytest.raises(jsonschema.ValidationError):
        validate_evidence(record)


def test_notification_names_table_and_result_and_carries_the_reason():
    record = _record(validated=None, failure={"step": "validate", "reason": "scratch table holds 9 items"})
    record["table_name"] = "t" * 255
    subject = notification_subject(record)
    assert len(subject) < 100 and subject.startswith("DR drill FAILED: ttt")
    body = json.loads(notification_message(record, "s3://e/k.json"))
    assert body["status"] == "failed" and body["failure_reason"] == "scratch table holds 9 items"
    assert body["evidence_uri"] == "s3://e/k.json" and body["drill_id"] == SPEC["drill_id"]
    assert notification_attributes(record) == {"status": "failed", "table_name": record["table_name"]}


@pytest.mark.parametrize(
    ("status", "success", "failure", "expected"),
    [
        pytest.param("passed", "S", "F", "S", id="success-topic"),
        pytest.param("failed", "S", "F", "F", id="failure-topic"),
        pytest.param("failed", "S", None, "S", id="only-one-topic"),
        pytest.param("passed", None, None, None, id="none"),
    ],
)
def test_notification_topic(status, success, failure, expected):
    assert notification_topic(status, success, failure) == expected


def test_metrics_are_the_original_three_per_table():
    record = _record(validated={**VALIDATED, "passed": False, "restored_items": 9})
    metrics = {m["MetricName"]: m for m in metric_data(record, NOW)}
    assert set(metrics) >= {"ItemsRestored", "FailedItems", "RecoveryValidationRate"}  # issue 6 adds more
    assert metrics["RecoveryValidationRate"]["Value"] == 90.0 and metrics["RecoveryValidationRate"]["Unit"] == "Percent"
    assert metrics["ItemsRestored"]["Dimensions"] == [{"Name": "TableName", "Value": "app-users"}]


def test_the_core_imports_without_airflow_or_boto3():
    code = (
        "import sys, pkgutil, importlib, dr_drill.core as core\n"
        "import dr_drill.constants, dr_drill.contracts, dr_drill.errors\n"
        "found = [m.name for m in pkgutil.walk_packages(core.__path__, 'dr_drill.core.')]\n"
        "assert len(found) > 20, found\n"
        "for name in found: importlib.import_module(name)\n"
        "bad = [n for n in sys.modules if n.split('.')[0] in ('airflow', 'boto3', 'botocore')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": "plugins"})
