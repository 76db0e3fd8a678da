"""Evidence chains the store and command-line tests put in S3: one record a night, each sealed on the one before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dr_drill.aws.evidence_store import put_evidence
from dr_drill.core.evidence.record import build_evidence, evidence_key, validate_evidence
from tests.drills import drill_spec

LOCKED_BUCKET = "evidence-locked"
PLAIN_BUCKET = "evidence-plain"
TABLE = "app-users"


def night_record(night: int, previous):
    """Return the record of ``TABLE``'s drill on night ``night`` of 2026-11, chained to ``previous``; night 2 failed."""
    started = datetime(2026, 11, 1, 2, tzinfo=UTC) + timedelta(days=night)
    spec = drill_spec(TABLE, run_id=f"scheduled__{started.isoformat()}", started_at=started, backup_bucket="bkt")
    drill_id = spec.drill_id
    record = build_evidence(
        spec,
        located={
            "source": "s3_json",
            "location": "s3://b/k.json",
            "name_timestamp": (started - timedelta(hours=1)).isoformat(),
            "candidates_considered": 1,
            "selection": {"policy": "latest"},
        },
        verified=None,
        restored=None,
        validated=None,
        scratch_deleted=True,
        failure={"step": "verify", "reason": "checksum mismatch"} if night == 2 else None,
        generated_at=started,
        previous=previous,
        storage={
            "bucket": LOCKED_BUCKET,
            "key": evidence_key(TABLE, drill_id),
            "report_key": "r.html",
            "object_lock": False,
            "retention_mode": None,
            "retain_until": None,
        },
    )
    validate_evidence(record)
    return record


def seed_chain(s3, bucket: str, nights: int, lock=None) -> list[str]:
    """Put ``nights`` chained records of ``TABLE`` into ``bucket``; return their keys, oldest first."""
    keys, previous = [], None
    for night in range(nights):
        record = night_record(night, previous)
        key = record["storage"]["key"]
        put_evidence(s3, bucket, key, record, lock)
        keys.append(key)
        previous = record
    return keys
