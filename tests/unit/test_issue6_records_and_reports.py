"""Complete evidence records, the SNS body and metrics, the HTML pages, and the shipped alarms."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import botocore.session
import pytest
import yaml
from botocore.validate import ParamValidator

from dr_drill.core.evidence.chain import verify_chain
from dr_drill.core.evidence.notification import METRIC_NAMES, METRIC_NAMESPACE, metric_data, notification_message
from dr_drill.core.evidence.record import build_evidence, plan_entry, sha256_of, validate_evidence
from dr_drill.core.report.html import build_pack, render_drill_report, render_pack
from tests.unit.test_evidence_and_notification import LOCATED, NOW, RESTORED, SPEC, VALIDATED, VERIFIED

ROOT = Path(__file__).resolve().parents[2]
FULL_SPEC = SPEC
CREATED = {
    "name": SPEC["scratch_table"],
    "method": "batch_write",
    "started_at": "2026-11-26T02:00:01+00:00",
    "created_at": "2026-11-26T02:00:05+00:00",
}
DROPPED = {"deleted": True, "kept": False, "deleted_at": "2026-11-26T02:01:30+00:00"}
RUN = {"try_number": 2, "run_type": "manual", "triggering_user": "alice"}


def _record(**steps):
    parts = {
        "located": {**LOCATED, "bucket": "b", "key": "dynamodb-backups/x.json"},
        "verified": {**VERIFIED, "etag": '"abc"', "size_bytes": 1234},
        "restored": RESTORED,
        "validated": {**VALIDATED, "checks": [{"name": "content_digest", "passed": True, "detail": "equal"}]},
        "scratch_deleted": True,
        "failure": None,
        "created": CREATED,
        "dropped": DROPPED,
        "run": RUN,
    } | steps
    return build_evidence(FULL_SPEC, generated_at=NOW, **parts)


def test_a_record_says_who_ran_what_with_which_plan_entry_and_software():
    record = _record()
    validate_evidence(record)
    assert record["run"] == RUN
    assert record["plan_entry"] == plan_entry(FULL_SPEC)
    assert record["plan_entry"]["batch_size"] == 25 and record["plan_entry"]["rto_target_seconds"] == 60
    assert record["plan_entry_sha256"] == sha256_of(record["plan_entry"])
    assert set(record["software"]) >= {"dr_drill", "apache-airflow", "apache-airflow-providers-amazon", "boto3"}
    assert all(record["software"][name] for name in ("dr_drill", "apache-airflow", "boto3"))
    assert record["backup_identity"] == {
        "bucket": "b",
        "key": "dynamodb-backups/x.json",
        "etag": '"abc"',
        "size_bytes": 1234,
    }


def test_a_record_keeps_the_scratch_table_life_and_every_check():
    record = _record()
    timeline = record["timeline"]
    assert timeline["scratch_created_at"] == CREATED["created_at"]
    assert timeline["scratch_deleted_at"] == DROPPED["deleted_at"] and timeline["scratch_kept"] is False
    assert timeline["validation_finished_at"] == VALIDATED["finished_at"]
    checks = {c["name"]: c["result"] for c in record["checks"]}
    assert checks == {
        "backup_located": "passed",
        "backup_checksum": "passed",
        "restore_complete": "passed",
        "item_count": "passed",
        "content_digest": "passed",  # reported by the validate step itself
        "scratch_table_deleted": "passed",
        "rto_met": "failed",  # 70 s against a 60 s target
        "rpo_met": "failed",
    }


def test_a_failed_drill_leaves_the_later_checks_not_run_and_the_run_type_from_the_run_id():
    failure = {"step": "verify", "reason": "checksum mismatch"}
    record = build_evidence(
        FULL_SPEC,
        located=LOCATED,
        verified=None,
        restored=None,
        validated=None,
        scratch_deleted=True,
        failure=failure,
        generated_at=NOW,
    )
    validate_evidence(record)
    checks = {c["name"]: c["result"] for c in record["checks"]}
    assert checks["backup_located"] == "passed" and checks["backup_checksum"] == "failed"
    assert checks["restore_complete"] == "not_run" and checks["item_count"] == "not_run"
    assert record["run"]["run_type"] == "scheduled"  # from scheduled__... when Airflow did not say
    assert record["storage"] is None and record["evidence_sequence"] == 1


def test_the_notification_carries_rto_rpo_met_the_report_link_and_the_failing_step():
    failure = {"step": "restore", "reason": "3 items rejected by DynamoDB"}
    record = _record(validated=None, failure=failure)
    body = json.loads(notification_message(record, "s3://e/k.json", "s3://e/k.html"))
    assert body["report_uri"] == "s3://e/k.html" and body["evidence_uri"] == "s3://e/k.json"
    assert body["failure_step"] == "restore" and body["failure_reason"] == failure["reason"]
    assert "at step restore: 3 items rejected" in body["summary"]
    assert body["rto_met"] is None and body["rpo_met"] is False
    assert body["evidence_sha256"] == record["evidence_sha256"]


def test_metrics_add_recovery_time_backup_age_and_the_verdict():
    metrics = {m["MetricName"]: m for m in metric_data(_record(), NOW)}
    assert set(metrics) == set(METRIC_NAMES)
    assert metrics["RecoveryTimeSeconds"]["Value"] == 70.0 and metrics["RecoveryTimeSeconds"]["Unit"] == "Seconds"
    assert metrics["BackupAgeSeconds"]["Value"] == 88200.0
    assert metrics["DrillSucceeded"]["Value"] == 1
    failed = {
        m["MetricName"]: m
        for m in metric_data(_record(validated=None, failure={"step": "validate", "reason": "y"}), NOW)
    }
    assert failed["DrillSucceeded"]["Value"] == 0
    assert "RecoveryTimeSeconds" not in failed  # not measured: not invented


HOSTILE = '<script>alert("x")</script>&<img src=x onerror=1>'


def test_the_drill_report_escapes_what_it_shows_and_fetches_nothing():
    record = _record(validated=None, failure={"step": "restore", "reason": HOSTILE})
    html = render_drill_report(record)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert "Failed at step restore" in html and record["evidence_sha256"] in html
    assert not re.search(r"(src|href)=\"?(https?:)?//", html)  # self-contained


def _nights(table: str, count: int, fail_on: set[int]) -> list[dict]:
    records, previous = [], None
    for night in range(count):
        started = datetime(2026, 11, 1, 2, tzinfo=UTC) + timedelta(days=night)
        spec = {
            **FULL_SPEC,
            "table_name": table,
            "started_at": started.isoformat(),
            "drill_id": f"{started:%Y%m%dT%H%M%SZ}-0123456789ab",
        }
        restored = {
            **RESTORED,
            "started_at": (started + timedelta(seconds=10)).isoformat(),
            "finished_at": (started + timedelta(seconds=30)).isoformat(),
        }
        located = {**LOCATED, "name_timestamp": (started - timedelta(hours=1, minutes=3 * night)).isoformat()}
        validated = {**VALIDATED, "finished_at": (started + timedelta(seconds=40 + night)).isoformat()}
        failure = {"step": "validate", "reason": "count differs"} if night in fail_on else None
        record = build_evidence(
            spec,
            located=located,
            verified={**VERIFIED, "backup_timestamp": located["name_timestamp"]},
            restored=restored,
            validated=None if failure else validated,
            scratch_deleted=True,
            failure=failure,
            generated_at=started,
            previous=previous,
            storage={
                "bucket": "evidence",
                "key": f"k/{night}.json",
                "report_key": "r",
                "object_lock": True,
                "retention_mode": "COMPLIANCE",
                "retain_until": "2028-01-01T00:00:00+00:00",
            },
        )
        records.append(record)
        previous = record
    return records


def test_the_pack_keeps_the_range_counts_pass_rate_and_chains():
    records = {"app-users": _nights("app-users", 10, {3}), "orders": _nights("orders", 10, set())}
    chains = {t: verify_chain(t, []).to_dict() for t in records}
    chains["orders"] = {**chains["orders"], "intact": False, "break_kind": "missing", "break_key": "k", "detail": "d"}
    pack = build_pack(records, chains, date_from=date(2026, 11, 3), date_to=date(2026, 11, 7), generated_at=NOW)
    by_table = {t["table_name"]: t for t in pack["tables"]}
    assert by_table["app-users"]["drill_count"] == 5 and by_table["app-users"]["passed"] == 4
    assert by_table["app-users"]["pass_rate_percent"] == 80.0
    assert pack["drill_count"] == 10 and pack["passed"] == 9 and pack["chains_intact"] is False
    assert [d["started_at"][:10] for d in by_table["orders"]["drills"]] == [f"2026-11-0{d}" for d in range(3, 8)]
    html = render_pack(pack)
    assert html.count("<svg") == 5  # pass rate per day, RTO and RPO per table
    assert "target 60" in html and "MISSING" in html and "CHAIN BROKEN" in html
    json.dumps(pack)  # the JSON twin


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


@pytest.mark.parametrize("mode", ["COMPLIANCE", "GOVERNANCE"])
def test_storage_of_a_locked_record_is_described_in_the_schema(mode):
    storage = {
        "bucket": "evidence",
        "key": "k.json",
        "report_key": "k.html",
        "object_lock": True,
        "retention_mode": mode,
        "retain_until": "2028-01-01T00:00:00+00:00",
    }
    validate_evidence(_record(storage=storage))


def test_a_drill_that_found_no_backup_made_no_checksum_check():
    record = build_evidence(
        FULL_SPEC,
        located=None,
        verified=None,
        restored=None,
        validated=None,
        scratch_deleted=True,
        failure={"step": "locate", "reason": "no backup of table app-users"},
        generated_at=NOW,
    )
    checks = {c["name"]: c["result"] for c in record["checks"]}
    assert checks["backup_located"] == "failed" and checks["backup_checksum"] == "not_run"
    assert record["backup_identity"] == {}
