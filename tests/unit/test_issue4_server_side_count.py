"""A server-side restore is counted once, by validate's scan: the evidence, report, SNS and metrics say so."""

from __future__ import annotations

import html
import json

import pytest

from dr_drill.core.evidence.notification import metric_data, notification_message
from dr_drill.core.evidence.record import validate_evidence
from dr_drill.core.report.html import render_drill_report
from tests.unit.test_evidence_and_notification import NOW, RESTORED, VALIDATED, _record

SERVER_SIDE = {**RESTORED, "method": "restore_from_backup", "items_restored": None, "items_read": None}


def _metrics(record: dict) -> dict:
    return {metric["MetricName"]: metric["Value"] for metric in metric_data(record, NOW)}


def test_validates_exact_count_fills_a_server_side_restores_count():
    record = _record(restored=SERVER_SIDE)
    validate_evidence(record)
    restore = record["restore"]
    assert restore["items_restored"] == VALIDATED["restored_items"] == 10
    assert restore["items_restored_counted_by"] == "validate"
    assert restore["items_per_second"] == pytest.approx(10 / 30, abs=0.05)
    assert _metrics(record)["ItemsRestored"] == 10
    assert json.loads(notification_message(record, "s3://b/k"))["items_restored_counted_by"] == "validate"
    assert "10 (counted by the validate step's scan)" in html.unescape(render_drill_report(record))
    [check] = [check for check in record["checks"] if check["name"] == "restore_complete"]
    assert check["result"] == "passed" and "counted by validate" in check["detail"]


def test_a_server_side_restore_validate_did_not_count_is_null_not_invented():
    failure = {"step": "validate", "reason": "task validate did not finish; see its log"}
    record = _record(restored=SERVER_SIDE, validated=None, failure=failure)
    validate_evidence(record)
    assert record["restore"]["items_restored"] is None
    assert record["restore"]["items_restored_counted_by"] is None
    assert record["restore"]["items_per_second"] is None
    assert "ItemsRestored" not in _metrics(record)
    assert json.loads(notification_message(record, "s3://b/k"))["items_restored"] is None
    assert "not counted" in render_drill_report(record)


def test_a_streamed_restore_keeps_its_own_count():
    record = _record(validated={**VALIDATED, "restored_items": 9, "passed": False})
    assert record["restore"]["items_restored"] == 10
    assert record["restore"]["items_restored_counted_by"] == "restore"
