"""The evidence record: what an auditor reads to see that a table was, or was not, recoverable."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from dr_drill.core.json_backup import parse_backup_timestamp

SCHEMA_VERSION = 1
EVIDENCE_FOLDER = "dr-drill-evidence"


@cache
def evidence_schema() -> dict[str, Any]:
    """Return the JSON Schema every record is checked against before it is written."""
    text = resources.files("dr_drill.core").joinpath("schemas/evidence-v1.schema.json").read_text()
    return json.loads(text)


def validate_evidence(record: dict[str, Any]) -> None:
    """:raises jsonschema.ValidationError: when the record breaks the published schema."""
    jsonschema.validate(record, evidence_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def evidence_key(table_name: str, drill_id: str) -> str:
    return f"{EVIDENCE_FOLDER}/{table_name}/{drill_id}.json"


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)


def backup_time(located: dict[str, Any] | None, verified: dict[str, Any] | None) -> datetime | None:
    """Return when the backup was taken: its own ``backup_timestamp`` once verified, else its name's."""
    if verified:
        parsed = parse_backup_timestamp(verified["backup_timestamp"])
        if parsed:
            return parsed
    if located and located.get("name_timestamp"):
        return datetime.fromisoformat(located["name_timestamp"])
    return None


def _met(measured: float | None, target: int) -> bool | None:
    return None if measured is None else measured <= target


def _backup_block(
    spec: dict[str, Any], located: dict[str, Any] | None, verified: dict[str, Any] | None, taken_at: datetime | None
) -> dict[str, Any]:
    return {
        "source": spec["backup_source"],
        "location": located["location"] if located else None,
        "backup_timestamp": taken_at.isoformat() if taken_at else None,
        "item_count": verified["item_count"] if verified else None,
        "checksum_verified": bool(verified and verified["checksum_verified"]),
    }


def _scratch_block(
    spec: dict[str, Any],
    scratch_deleted: bool,
    created: dict[str, Any] | None = None,
    dropped: dict[str, Any] | None = None,
) -> dict[str, Any]:
    created = created or {}
    dropped = dropped or {}
    return {
        "name": spec["scratch_table"],
        "deleted": scratch_deleted,
        "created_at": created.get("created_at"),
        "deleted_at": dropped.get("deleted_at") if scratch_deleted else None,
        "kept": bool(dropped.get("kept", spec.get("keep_scratch_table", False))) and not scratch_deleted,
        "indexes": list(created.get("indexes") or []),
    }


_RESTORE_COUNTS = ("retries", "throttled_requests", "duplicate_keys")


def _items_per_second(restored: dict[str, Any]) -> float | None:
    seconds = _seconds_between(restored.get("writes_started_at") or restored["started_at"], restored["finished_at"])
    return round(restored["items_restored"] / seconds, 1) if seconds else None


def _restore_block(restored: dict[str, Any] | None) -> dict[str, Any]:
    if not restored:
        return {
            "items_restored": 0,
            "items_failed": 0,
            "started_at": None,
            "finished_at": None,
            "duration_seconds": None,
            "method": None,
            "workers": None,
            **dict.fromkeys(_RESTORE_COUNTS, 0),
            "rejected_items": [],
            "items_per_second": None,
        }
    return {
        "items_restored": restored["items_restored"],
        "items_failed": restored["items_failed"],
        "started_at": restored["started_at"],
        "finished_at": restored["finished_at"],
        "duration_seconds": _seconds_between(restored["started_at"], restored["finished_at"]),
        "method": restored.get("method", "batch_write"),
        "workers": restored.get("workers"),
        **{name: restored.get(name, 0) for name in _RESTORE_COUNTS},
        "rejected_items": list(restored.get("rejected_keys") or [])[:20],
        "items_per_second": _items_per_second(restored),
    }


def _validation_block(validated: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "passed": bool(validated and validated["passed"]),
        "expected_items": validated["expected_items"] if validated else None,
        "restored_items": validated["restored_items"] if validated else None,
    }


def _objectives_block(
    spec: dict[str, Any],
    restored: dict[str, Any] | None,
    validated: dict[str, Any] | None,
    taken_at: datetime | None,
) -> dict[str, Any]:
    """RTO: restore start to validation end, only once validation proved the restore.

    RPO: drill start minus the backup's own time.
    """
    started = datetime.fromisoformat(spec["started_at"])
    rpo_seconds = None if taken_at is None else round((started - taken_at).total_seconds(), 3)
    proven = bool(restored and validated and validated["passed"])
    rto_seconds = _seconds_between(restored["started_at"], validated["finished_at"]) if proven else None
    return {
        "rto_target_seconds": spec["rto_target_seconds"],
        "rto_seconds": rto_seconds,
        "rto_met": _met(rto_seconds, spec["rto_target_seconds"]),
        "rpo_target_seconds": spec["rpo_target_seconds"],
        "rpo_seconds": rpo_seconds,
        "rpo_met": _met(rpo_seconds, spec["rpo_target_seconds"]),
    }


def build_evidence(
    spec: dict[str, Any],
    *,
    located: dict[str, Any] | None,
    verified: dict[str, Any] | None,
    restored: dict[str, Any] | None,
    validated: dict[str, Any] | None,
    scratch_deleted: bool,
    failure: dict[str, str] | None,
    generated_at: datetime,
    scratch: dict[str, Any] | None = None,
    dropped: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble one table's record from what each step returned (None for a step that did not finish)."""
    taken_at = backup_time(located, verified)
    passed = failure is None and bool(validated and validated["passed"])
    return {
        "schema_version": SCHEMA_VERSION,
        "drill_id": spec["drill_id"],
        "dag_id": spec["dag_id"],
        "run_id": spec["run_id"],
        "table_name": spec["table_name"],
        "status": "passed" if passed else "failed",
        "failure": failure,
        "backup": _backup_block(spec, located, verified, taken_at),
        "scratch_table": _scratch_block(spec, scratch_deleted, scratch, dropped),
        "restore": _restore_block(restored),
        "validation": _validation_block(validated),
        "objectives": _objectives_block(spec, restored, validated, taken_at),
        "generated_at": generated_at.isoformat(),
    }
