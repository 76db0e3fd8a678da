"""Notifications and metrics carry figures, never items; the shipped alarms watch the metrics the code publishes."""

from __future__ import annotations

import json

import botocore.session
import pytest
import yaml
from botocore.validate import ParamValidator

from dr_drill.core.evidence.notification import (
    METRIC_NAMES,
    METRIC_NAMESPACE,
    metric_data,
    notification_attributes,
    notification_message,
    notification_subject,
    notification_topic,
)
from tests.conftest import ROOT
from tests.records import ADVISORY_SPEC, NOW, SPEC, VALIDATED, complete_drill_record, drill_record


def test_notification_names_table_and_result_and_carries_the_reason():
    record = drill_record(validated=None, failure={"step": "validate", "reason": "scratch table holds 9 items"})
    record["table_name"] = "t" * 255
    subject = notification_subject(record)
    assert len(subject) < 100 and subject.startswith("DR drill FAILED (RPO missed): ttt")
    body = json.loads(notification_message(record, "s3://e/k.json"))
    assert body["status"] == "failed" and body["failure_reason"] == "scratch table holds 9 items"
    assert body["evidence_uri"] == "s3://e/k.json" and body["drill_id"] == SPEC["drill_id"]
    assert notification_attributes(record) == {"status": "failed", "table_name": record["table_name"]}


def test_the_notification_carries_rto_rpo_met_the_report_link_and_the_failing_step():
    failure = {"step": "restore", "reason": "3 items rejected by DynamoDB"}
    record = complete_drill_record(validated=None, failure=failure)
    body = json.loads(notification_message(record, "s3://e/k.json", "s3://e/k.html"))
    assert body["report_uri"] == "s3://e/k.html" and body["evidence_uri"] == "s3://e/k.json"
    assert body["failure_step"] == "restore" and body["failure_reason"] == failure["reason"]
    assert "at step restore: 3 items rejected" in body["summary"]
    assert body["rto_met"] is None and body["rpo_met"] is False
    assert body["evidence_sha256"] == record["evidence_sha256"]


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
    record = drill_record(validated={**VALIDATED, "passed": False, "restored_items": 9})
    metrics = {m["MetricName"]: m for m in metric_data(record, NOW)}
    assert set(metrics) >= {"ItemsRestored", "FailedItems", "RecoveryValidationRate"}  # and more: see the next test
    assert metrics["RecoveryValidationRate"]["Value"] == 90.0 and metrics["RecoveryValidationRate"]["Unit"] == "Percent"
    assert metrics["ItemsRestored"]["Dimensions"] == [{"Name": "TableName", "Value": "app-users"}]


def test_a_missed_target_says_so_in_the_subject_the_summary_and_drill_succeeded():
    record = complete_drill_record()  # restored and proven, but RTO 70 s > 60 s and RPO 88,200 s > 86,400 s
    assert notification_subject(record) == "DR drill FAILED (RTO and RPO missed): app-users"
    body = json.loads(notification_message(record, "s3://e/k.json"))
    assert body["failure_step"] == "objectives"
    assert "RTO MISSED (70.0 s, target 60 s), RPO MISSED (88200.0 s, target 86400 s)." in body["summary"]
    assert {m["MetricName"]: m["Value"] for m in metric_data(record, NOW)}["DrillSucceeded"] == 0
    advisory = complete_drill_record(ADVISORY_SPEC)
    assert notification_subject(advisory) == "DR drill PASSED (RTO and RPO missed): app-users"
    assert json.loads(notification_message(advisory, "s3://e/k.json"))["summary"].endswith("(targets advisory).")


def test_metrics_add_recovery_time_backup_age_and_the_verdict():
    metrics = {m["MetricName"]: m for m in metric_data(complete_drill_record(ADVISORY_SPEC), NOW)}
    assert set(metrics) == set(METRIC_NAMES)
    assert metrics["RecoveryTimeSeconds"]["Value"] == 70.0 and metrics["RecoveryTimeSeconds"]["Unit"] == "Seconds"
    assert metrics["BackupAgeSeconds"]["Value"] == 88200.0
    assert metrics["DrillSucceeded"]["Value"] == 1
    failed = {
        m["MetricName"]: m
        for m in metric_data(complete_drill_record(validated=None, failure={"step": "validate", "reason": "y"}), NOW)
    }
    assert failed["DrillSucceeded"]["Value"] == 0
    assert "RecoveryTimeSeconds" not in failed  # not measured: not invented


def _resolved(value):
    """Replace CloudFormation's Ref and Fn::Sub by plain strings, as a deployment would."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return "arn:aws:sns:us-east-1:123456789012:alarms" if value["Ref"] == "AlarmTopicArn" else "app-users"
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        return value["Fn::Sub"].replace("${TableName}", "app-users")
    if isinstance(value, dict):
        return {key: _resolved(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item) for item in value]
    return value


def test_the_shipped_alarms_watch_what_the_code_publishes():
    template = yaml.safe_load((ROOT / "deploy/cloudformation/dr-drill-alarms.yaml").read_text())
    alarms = {
        name: r["Properties"] for name, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert set(alarms) == {"DrillFailedAlarm", "NightlyDrillMissedAlarm"}
    shape = botocore.session.get_session().get_service_model("cloudwatch").operation_model("PutMetricAlarm").input_shape
    for name, props in alarms.items():
        assert props["Namespace"] == METRIC_NAMESPACE
        assert props["MetricName"] in METRIC_NAMES and props["MetricName"] == "DrillSucceeded"
        assert [d["Name"] for d in props["Dimensions"]] == ["TableName"]
        # Every property is a PutMetricAlarm argument of the right type, once the intrinsics are resolved.
        report = ParamValidator().validate(_resolved(props), shape)
        assert not report.has_errors(), (name, report.generate_report())
    assert alarms["NightlyDrillMissedAlarm"]["TreatMissingData"] == "breaching"
    assert alarms["DrillFailedAlarm"]["Statistic"] == "Minimum" and alarms["DrillFailedAlarm"]["Threshold"] == 1
