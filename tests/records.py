"""What the evidence and report tests build records from: one drill's steps, and a table's nights of drills."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dr_drill.core.evidence.record import build_evidence

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
# The same drill, but its plan makes the targets advisory: missing them does not fail it.
ADVISORY_SPEC = {**SPEC, "objectives_advisory": True}
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

CREATED = {
    "name": SPEC["scratch_table"],
    "method": "batch_write",
    "started_at": "2026-11-26T02:00:01+00:00",
    "created_at": "2026-11-26T02:00:05+00:00",
}
DROPPED = {"deleted": True, "kept": False, "deleted_at": "2026-11-26T02:01:30+00:00"}
RUN_CONTEXT = {
    "try_number": 2,
    "run_type": "manual",
    "triggering_user": "alice",
    "step_tries": {"locate": 1, "restore_part_1": 2},
}


def drill_record(spec: dict[str, Any] = SPEC, **steps: Any) -> dict[str, Any]:
    """Return the record of a drill of ``spec`` whose steps all passed, but for the ``steps`` given.

    ``SPEC``'s targets (RTO 60 s, RPO 1 day) are both missed by these steps (70 s, 88,200 s).
    """
    parts = {
        "located": LOCATED,
        "verified": VERIFIED,
        "restored": RESTORED,
        "validated": VALIDATED,
        "scratch_deleted": True,
        "failure": None,
    } | steps
    return build_evidence(spec, generated_at=NOW, **parts)


def complete_drill_record(spec: dict[str, Any] = SPEC, **steps: Any) -> dict[str, Any]:
    """Like ``drill_record``, with the backup's identity, the scratch table's life and who ran the drill."""
    parts = {
        "located": {**LOCATED, "bucket": "b", "key": "dynamodb-backups/x.json"},
        "verified": {**VERIFIED, "etag": '"abc"', "size_bytes": 1234},
        "restored": RESTORED,
        "validated": {**VALIDATED, "checks": [{"name": "content_digest", "passed": True, "detail": "equal"}]},
        "scratch_deleted": True,
        "failure": None,
        "created": CREATED,
        "dropped": DROPPED,
        "run": RUN_CONTEXT,
    } | steps
    return build_evidence(spec, generated_at=NOW, **parts)


def nightly_records(table: str, count: int, fail_on: set[int]) -> list[dict[str, Any]]:
    """Return ``count`` chained records of ``table``, one a night from 2026-11-01; the nights in ``fail_on`` failed."""
    records, previous = [], None
    for night in range(count):
        started = datetime(2026, 11, 1, 2, tzinfo=UTC) + timedelta(days=night)
        spec = {
            **SPEC,
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
