"""The record step's once-only writes against the emulator: a retried try reuses the record and resends nothing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from dr_drill.core.evidence.chain import record_sha256
from dr_drill.core.evidence.record import build_evidence, evidence_key
from dr_drill.operators.record import RecordDrillOperator
from tests.drills import drill_spec
from tests.integration.evidence_chain import LOCKED_BUCKET

pytestmark = pytest.mark.usefixtures("airflow_db")


def _record_task(evidence_s3):
    spec = dataclasses.replace(drill_spec(backup_bucket="backups"), evidence_bucket=LOCKED_BUCKET)
    return RecordDrillOperator(task_id="record", spec=spec.to_xcom(), step_task_ids={}), spec


def _draft(spec, generated_at):
    def draft(storage, previous, unstored=None):
        return build_evidence(
            spec,
            located=None,
            verified=None,
            restored=None,
            validated=None,
            scratch_deleted=None,
            failure={"step": "locate", "reason": "no backup"},
            generated_at=generated_at,
            previous=previous,
            storage=storage,
        )

    return draft


def test_a_retried_try_reuses_the_record_its_earlier_try_stored(evidence_s3):
    task, spec = _record_task(evidence_s3)
    key = evidence_key(spec.table_name, spec.drill_id)
    first, unstored = task._record_once(evidence_s3, key, _draft(spec, datetime(2026, 11, 26, 3, tzinfo=UTC)))
    again, unstored_again = task._record_once(evidence_s3, key, _draft(spec, datetime(2026, 11, 26, 4, tzinfo=UTC)))
    assert unstored is None and unstored_again is None
    assert again == first and again["generated_at"].startswith("2026-11-26T03")
    assert record_sha256(again) == first["evidence_sha256"]
    assert len(evidence_s3.list_object_versions(Bucket=LOCKED_BUCKET, Prefix=key)["Versions"]) == 1


def test_a_record_that_is_not_this_drills_or_not_intact_is_never_reused(evidence_s3):
    task, spec = _record_task(evidence_s3)
    key = evidence_key(spec.table_name, spec.drill_id)
    evidence_s3.put_object(Bucket=LOCKED_BUCKET, Key=key, Body=b'{"drill_id": "someone else", "evidence_sha256": "x"}')
    record, unstored = task._record_once(evidence_s3, key, _draft(spec, datetime(2026, 11, 26, 3, tzinfo=UTC)))
    assert "is not drill" in unstored and record["status"] == "failed" and record["storage"] is None
    assert record["failure"] == {"step": "locate", "reason": "no backup", "error": None}  # the first failure stays


def test_each_output_is_sent_once_per_drill_whatever_the_tries(evidence_s3):
    task, spec = _record_task(evidence_s3)
    key = evidence_key(spec.table_name, spec.drill_id)
    sent = []
    for _ in range(3):
        task._once(evidence_s3, key, "notification", lambda: sent.append(1) or {"message_id": "m-1"}, markable=True)
    assert sent == [1]
    marker = evidence_s3.get_object(Bucket=LOCKED_BUCKET, Key=f"{key}.notification-sent")["Body"].read()
    assert b'"message_id": "m-1"' in marker and spec.drill_id.encode() in marker
