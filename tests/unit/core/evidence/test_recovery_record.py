"""The record, report and notification of a drill on the recovery side: both sides, the copy, its lag."""

from __future__ import annotations

import json

from dr_drill.core.evidence.notification import notification_message, notification_subject
from dr_drill.core.evidence.record import validate_evidence
from dr_drill.core.report.html import render_drill_report
from tests.records import ADVISORY_SPEC, LOCATED, SPEC, drill_record

RECOVERY = {
    "region": "us-west-2",
    "aws_conn_id": "aws_recovery",
    "backup_bucket": "backups-replica",
    "copy_lag_target_seconds": 3600,
}
FOUND = {
    "aws_conn_id": "aws_recovery",
    "recovery_region": "us-west-2",
    "recovery_account": "222222222222",
    "source_aws_conn_id": "aws_default",
    "source_region": "us-east-1",
    "source_account": "111111111111",
    "newest_source_location": "s3://backups/dynamodb-backups/orders-backup-2026-11-26-01-30-00.json",
    "newest_source_backup_time": "2026-11-26T01:30:00+00:00",
    "newest_copy_location": "s3://backups-replica/dynamodb-backups/orders-backup-2026-11-25-01-30-00.json",
    "newest_copy_backup_time": "2026-11-25T01:30:00+00:00",
    "uncopied_location": "s3://backups/dynamodb-backups/orders-backup-2026-11-26-01-30-00.json",
    "uncopied_backup_time": "2026-11-26T01:30:00+00:00",
    "copy_lag_seconds": 86400.0,
    "copy_lag_target_seconds": 3600,
}
ON_TIME = {**FOUND, "copy_lag_seconds": 0.0, "uncopied_location": None, "uncopied_backup_time": None}
# Targets the steps meet, so that only the copy lag decides.
MET = {"rto_target_seconds": 3600, "rpo_target_seconds": 3 * 86400}


def test_a_copy_lagging_beyond_its_target_fails_a_proven_drill_naming_the_uncopied_backup():
    record = drill_record({**SPEC, **MET, "recovery": RECOVERY}, recovery=FOUND)
    validate_evidence(record)

    assert record["status"] == "failed" and record["failure"]["step"] == "objectives"
    assert record["failure"]["reason"] == (
        "copy lag target missed: the recovery side's newest copy is 86400.0 s behind the source's newest"
        f" backup, target 3600 s; {FOUND['uncopied_location']} has no copy there"
    )
    recovery = record["recovery"]
    assert recovery["recovery"] == {
        "aws_conn_id": "aws_recovery",
        "account": "222222222222",
        "region": "us-west-2",
        "backup_bucket": "backups-replica",
        "backup_vault": None,
        "newest_copy_location": FOUND["newest_copy_location"],
        "newest_copy_time": FOUND["newest_copy_backup_time"],
    }
    assert (recovery["source"]["account"], recovery["source"]["region"]) == ("111111111111", "us-east-1")
    assert recovery["copy_restored"] == LOCATED["location"]
    assert {check["name"]: check["result"] for check in record["checks"]}["copy_lag_met"] == "failed"

    message = json.loads(notification_message(record, "s3://evidence/x.json"))
    assert message["recovery"]["recovery_account"] == "222222222222" and message["recovery"]["copy_lag_met"] is False
    assert "copy lag MISSED" in message["summary"] and "copy lag missed" in notification_subject(record)
    report = render_drill_report(record)
    assert "Recovery side and source side" in report and "Copy lag (recovery side)" in report
    assert "222222222222" in report


def test_a_copy_on_time_passes_and_an_advisory_plan_only_reports_a_lag():
    assert drill_record({**SPEC, **MET, "recovery": RECOVERY}, recovery=ON_TIME)["status"] == "passed"
    advisory = drill_record({**ADVISORY_SPEC, **MET, "recovery": RECOVERY}, recovery=FOUND)
    assert advisory["status"] == "passed" and advisory["recovery"]["copy_lag_met"] is False


def test_what_locate_never_learnt_is_null_not_guessed_and_a_drill_at_the_source_has_no_recovery_block():
    unknown = drill_record({**SPEC, "recovery": RECOVERY}, located=None, recovery=None)
    validate_evidence(unknown)
    assert unknown["recovery"]["recovery"]["account"] is None and unknown["recovery"]["source"]["account"] is None
    assert unknown["recovery"]["copy_lag_seconds"] is None and unknown["recovery"]["copy_lag_met"] is None
    assert unknown["recovery"]["recovery"]["region"] == "us-west-2"  # the plan's, where it would have run
    assert drill_record()["recovery"] is None
    assert "Recovery side" not in render_drill_report(drill_record())
