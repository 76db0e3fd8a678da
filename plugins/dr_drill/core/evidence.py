"""The evidence record: what an auditor reads to see that a table was, or was not, recoverable."""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import datetime
from functools import cache
from importlib import metadata, resources
from typing import Any

import jsonschema

import dr_drill
from dr_drill.core.chain import seal
from dr_drill.core.json_backup import parse_backup_timestamp
from dr_drill.core.plan import SETTING_SCHEMAS

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


def evidence_prefix(table_name: str) -> str:
    return f"{EVIDENCE_FOLDER}/{table_name}/"


def report_key(evidence_key: str) -> str:
    """Return the key of the HTML report stored beside an evidence record."""
    return evidence_key.removesuffix(".json") + ".html"


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)


def backup_time(located: dict[str, Any] | None, verified: dict[str, Any] | None) -> datetime | None:
    """Return when the backup was taken: its own time once verified, else what the locate step knew.

    That is the original format's ``backup_timestamp``, an export's ``exportTime``, a native
    backup's ``BackupCreationDateTime`` or a PITR restore time; failing those, the key's name time.
    """
    if verified and verified.get("backup_timestamp"):
        parsed = parse_backup_timestamp(verified["backup_timestamp"])
        if parsed:
            return parsed
    for field in ("backup_time", "name_timestamp"):
        if located and located.get(field):
            return datetime.fromisoformat(located[field])
    return None


def _met(measured: float | None, target: int) -> bool | None:
    return None if measured is None else measured <= target


def _backup_block(
    spec: dict[str, Any], located: dict[str, Any] | None, verified: dict[str, Any] | None, taken_at: datetime | None
) -> dict[str, Any]:
    located, verified = located or {}, verified or {}
    newest_verified = verified.get("newest_verified_backup_time")
    effective_rpo = None
    if newest_verified:
        effective_rpo = round(
            (datetime.fromisoformat(spec["started_at"]) - datetime.fromisoformat(newest_verified)).total_seconds(), 3
        )
    return {
        "source": spec["backup_source"],
        "location": located.get("location"),
        "backup_timestamp": taken_at.isoformat() if taken_at else None,
        "item_count": verified.get("item_count"),
        "checksum_verified": bool(verified.get("checksum_verified")),
        "selection": located.get("selection"),
        "size_bytes": verified.get("size_bytes"),
        "etag": verified.get("etag"),
        "version_id": verified.get("version_id"),
        "export_arn": located.get("export_arn"),
        "backup_arn": located.get("backup_arn"),
        "restore_time": located.get("restore_time"),
        "candidates_considered": located.get("candidates_considered"),
        "effective_rpo_seconds": effective_rpo,
        "newest_verified_location": verified.get("newest_verified_location"),
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


def _items_per_second(restored: dict[str, Any], items: int | None) -> float | None:
    seconds = _seconds_between(restored.get("writes_started_at") or restored["started_at"], restored["finished_at"])
    return round(items / seconds, 1) if seconds and items is not None else None


def _restored_count(restored: dict[str, Any], validated: dict[str, Any] | None) -> tuple[int | None, str | None]:
    """The restored item count and who counted it.

    A server-side restore does not scan its table to count it: the validate step's full scan is
    the exact count of what DynamoDB restored (None when validate did not get as far as counting).
    """
    if restored.get("items_restored") is not None:
        return restored["items_restored"], "restore"
    counted = (validated or {}).get("restored_items")
    return counted, "validate" if counted is not None else None


def _restore_block(restored: dict[str, Any] | None, validated: dict[str, Any] | None = None) -> dict[str, Any]:
    if not restored:
        return {
            "items_restored": 0,
            "items_restored_counted_by": None,
            "items_failed": 0,
            "started_at": None,
            "finished_at": None,
            "duration_seconds": None,
            "method": None,
            "workers": None,
            "tasks": 0,
            **dict.fromkeys(_RESTORE_COUNTS, 0),
            "rejected_items": [],
            "items_per_second": None,
        }
    items, counted_by = _restored_count(restored, validated)
    return {
        "items_restored": items,
        "items_restored_counted_by": counted_by,
        "items_failed": restored["items_failed"],
        "started_at": restored["started_at"],
        "finished_at": restored["finished_at"],
        "duration_seconds": _seconds_between(restored["started_at"], restored["finished_at"]),
        "method": restored.get("method", "batch_write"),
        "workers": restored.get("workers"),
        "tasks": restored.get("parts", 1),
        **{name: restored.get(name, 0) for name in _RESTORE_COUNTS},
        "rejected_items": list(restored.get("rejected_keys") or [])[:20],
        "items_per_second": _items_per_second(restored, items),
    }


_VALIDATION_FINDINGS: dict[str, Any] = {
    "content_digest_expected": None,
    "content_digest_actual": None,
    "digest_match": None,
    "missing_items": None,
    "extra_items": None,
    "different_items": None,
    "localisation": None,
    "items_proven": None,
    "sample_seed": None,
    "sample_basis": None,
    "samples_checked": 0,
    "sample_mismatches": None,
    "first_sample_mismatch_keys": [],
    "type_drift": None,
    "checks": [],
    "proofs": [],
    "proofs_skipped": {},
}


def _validation_block(validated: dict[str, Any] | None) -> dict[str, Any]:
    """What each proof found; a proof that did not run leaves its fields null (or empty), never invented."""
    validated = validated or {}
    return {
        "passed": bool(validated.get("passed")),
        "expected_items": validated.get("expected_items"),
        "restored_items": validated.get("restored_items"),
        **{name: validated.get(name, empty) for name, empty in _VALIDATION_FINDINGS.items()},
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


_SOFTWARE = ("apache-airflow", "apache-airflow-providers-amazon", "boto3", "botocore")
_BACKUP_IDENTITY_KEYS = (
    "bucket",
    "key",
    "etag",
    "version_id",
    "size_bytes",
    "export_id",
    "export_arn",
    "backup_arn",
    "restore_time",
    "source_table_name",
    "source_table_arn",
)


def software_versions() -> dict[str, str | None]:
    """Return the versions that ran the drill (read from package metadata; nothing is imported)."""
    versions: dict[str, str | None] = {"dr_drill": dr_drill.__version__, "python": platform.python_version()}
    for name in _SOFTWARE:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def plan_entry(spec: dict[str, Any]) -> dict[str, Any]:
    """Return the per-table settings the drill ran with, after plan defaults, table entry and conf."""
    return {"table_name": spec["table_name"], **{key: spec[key] for key in SETTING_SCHEMAS if key in spec}}


def sha256_of(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _run_type(run_id: str) -> str | None:
    prefix, sep, _ = run_id.partition("__")
    return prefix if sep else None


def _run_block(spec: dict[str, Any], run: dict[str, Any] | None) -> dict[str, Any]:
    run = run or {}
    return {
        "try_number": run.get("try_number"),
        "run_type": run.get("run_type") or _run_type(spec["run_id"]),
        "triggering_user": run.get("triggering_user"),
    }


def _backup_identity(located: dict[str, Any] | None, verified: dict[str, Any] | None) -> dict[str, Any]:
    """What names the exact backup drilled: the union of what locate and verify saw, per source."""
    found = {**(located or {}), **(verified or {})}
    return {key: found[key] for key in _BACKUP_IDENTITY_KEYS if found.get(key) is not None}


def _timeline(
    spec: dict[str, Any],
    created: dict[str, Any] | None,
    restored: dict[str, Any] | None,
    validated: dict[str, Any] | None,
    dropped: dict[str, Any] | None,
    generated_at: datetime,
) -> dict[str, Any]:
    """When each thing happened, the scratch table's life included; null for what did not happen."""
    return {
        "drill_started_at": spec["started_at"],
        "scratch_created_at": (created or {}).get("created_at"),
        "restore_started_at": (restored or {}).get("started_at"),
        "restore_finished_at": (restored or {}).get("finished_at"),
        "validation_finished_at": (validated or {}).get("finished_at"),
        "scratch_deleted_at": (dropped or {}).get("deleted_at") if (dropped or {}).get("deleted") else None,
        "scratch_kept": bool((dropped or {}).get("kept")),
        "recorded_at": generated_at.isoformat(),
    }


def _check(name: str, passed: bool | None, detail: str) -> dict[str, Any]:
    return {"name": name, "result": {True: "passed", False: "failed", None: "not_run"}[passed], "detail": detail}


def _restore_detail(restore: dict[str, Any]) -> str:
    if restore.get("items_restored_counted_by") == "validate":
        return f"{restore['items_restored']} items restored by {restore['method']} (counted by validate's scan)"
    if restore["items_restored"] is None:
        return f"{restore['method']} finished; its items were not counted (validate did not count them)"
    return f"{restore['items_restored']} items written, {restore['items_failed']} rejected"


def _checks(record: dict[str, Any], validated: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every check the drill made, with its result; a step that did not run leaves its checks not_run."""
    backup, restore, validation = record["backup"], record["restore"], record["validation"]
    objectives, failure = record["objectives"], record["failure"] or {}
    located = backup["location"] is not None
    checksum = True if backup["checksum_verified"] else (False if failure.get("step") == "verify" else None)
    restore_ran = restore["started_at"] is not None
    checks = [
        _check("backup_located", located, backup["location"] or "no backup located"),
        _check(
            "backup_checksum",
            checksum,
            "the backup's checksum and item count match its content",
        ),
        _check(
            "restore_complete",
            restore["items_failed"] == 0 and failure.get("step") != "restore" if restore_ran else None,
            _restore_detail(restore),
        ),
        _check(
            "item_count",
            validation["passed"] if validated else None,
            f"scratch table holds {validation['restored_items']} items, the backup {validation['expected_items']}"
            if validated
            else "not counted",
        ),
    ]
    # Checks the validate step reports itself (content digest, samples, ...), when it lists them.
    for extra in (validated or {}).get("checks") or ():
        if isinstance(extra, dict) and "name" in extra:
            checks.append(_check(str(extra["name"]), extra.get("passed"), str(extra.get("detail", ""))))
    checks += [
        _check("scratch_table_deleted", record["scratch_table"]["deleted"], record["scratch_table"]["name"]),
        _check("rto_met", objectives["rto_met"], f"target {objectives['rto_target_seconds']} s"),
        _check("rpo_met", objectives["rpo_met"], f"target {objectives['rpo_target_seconds']} s"),
    ]
    return checks


def seal_evidence(
    record: dict[str, Any], *, previous: dict[str, Any] | None, storage: dict[str, Any] | None
) -> dict[str, Any]:
    """Return the record with where it is stored and its link to the table's previous record.

    :param previous: the same table's latest stored record, or None for the first.
    :param storage: bucket, key, report_key and Object Lock state, or None when not stored.
    """
    return seal({**record, "storage": storage}, previous)


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
    created: dict[str, Any] | None = None,
    dropped: dict[str, Any] | None = None,
    run: dict[str, Any] | None = None,
    software: dict[str, str | None] | None = None,
    previous: dict[str, Any] | None = None,
    storage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble one table's record from what each step returned (None for a step that did not finish).

    The record comes sealed (see ``dr_drill.core.chain``): linked to ``previous`` and hashed.
    """
    taken_at = backup_time(located, verified)
    passed = failure is None and bool(validated and validated["passed"])
    entry = plan_entry(spec)
    record = {
        "schema_version": SCHEMA_VERSION,
        "drill_id": spec["drill_id"],
        "dag_id": spec["dag_id"],
        "run_id": spec["run_id"],
        "table_name": spec["table_name"],
        "status": "passed" if passed else "failed",
        "failure": failure,
        "backup": _backup_block(spec, located, verified, taken_at),
        "scratch_table": _scratch_block(spec, scratch_deleted, created, dropped),
        "restore": _restore_block(restored, validated),
        "validation": _validation_block(validated),
        "objectives": _objectives_block(spec, restored, validated, taken_at),
        "generated_at": generated_at.isoformat(),
        "started_at": spec["started_at"],
        "run": _run_block(spec, run),
        "software": software if software is not None else software_versions(),
        "plan_entry": entry,
        "plan_entry_sha256": sha256_of(entry),
        "backup_identity": _backup_identity(located, verified),
        "timeline": _timeline(spec, created, restored, validated, dropped, generated_at),
    }
    record["checks"] = _checks(record, validated)
    return seal_evidence(record, previous=previous, storage=storage)
