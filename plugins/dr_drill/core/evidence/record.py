"""The evidence record: what an auditor reads to see that a table was, or was not, recoverable."""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import fields
from datetime import datetime
from functools import cache
from importlib import metadata, resources
from typing import Any, TypeVar

import jsonschema

import dr_drill
from dr_drill.contracts import (
    Contract,
    DrillSpec,
    DroppedScratch,
    LocatedBackup,
    RecoveryCopy,
    RestoreResult,
    ScratchTable,
    StepFailure,
    ValidationResult,
    VerifiedBackup,
)
from dr_drill.core.evidence.chain import seal
from dr_drill.core.evidence.cost import drill_cost, s3_request_counts, table_hours
from dr_drill.core.plan.drill_plan import SETTING_SCHEMAS
from dr_drill.core.times import parse_backup_timestamp, seconds_between

C = TypeVar("C", bound=Contract)

SCHEMA_VERSION = 1
EVIDENCE_FOLDER = "dr-drill-evidence"


@cache
def evidence_schema() -> dict[str, Any]:
    """Return the JSON Schema every record is checked against before it is written."""
    text = resources.files("dr_drill.core.evidence").joinpath("schemas/evidence-v1.schema.json").read_text()
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


def backup_time(located: LocatedBackup | None, verified: VerifiedBackup | None) -> datetime | None:
    """Return when the backup was taken: its own time once verified, else what the locate step knew.

    That is the original format's ``backup_timestamp``, an export's ``exportTime``, a native
    backup's ``BackupCreationDateTime`` or a PITR restore time; failing those, the key's name time.
    """
    if verified and verified.backup_timestamp:
        parsed = parse_backup_timestamp(verified.backup_timestamp)
        if parsed:
            return parsed
    for known in (located.backup_time, located.name_timestamp) if located else ():
        if known:
            return datetime.fromisoformat(known)
    return None


def _met(measured: float | None, target: int) -> bool | None:
    return None if measured is None else measured <= target


def _backup_block(
    spec: DrillSpec, located: LocatedBackup | None, verified: VerifiedBackup | None, taken_at: datetime | None
) -> dict[str, Any]:
    newest_verified = verified.newest_verified_backup_time if verified else None
    effective_rpo = None
    if newest_verified:
        effective_rpo = round(
            (datetime.fromisoformat(spec.started_at) - datetime.fromisoformat(newest_verified)).total_seconds(), 3
        )
    return {
        "source": spec.backup_source.value,
        "location": located.location if located else None,
        "backup_timestamp": taken_at.isoformat() if taken_at else None,
        "item_count": verified.item_count if verified else None,
        "checksum_verified": bool(verified and verified.checksum_verified),
        "selection": located.selection if located else None,
        "size_bytes": verified.size_bytes if verified else None,
        "etag": verified.etag if verified else None,
        "version_id": verified.version_id if verified else None,
        "export_arn": located.export_arn if located else None,
        "backup_arn": located.backup_arn if located else None,
        "restore_time": located.restore_time if located else None,
        "candidates_considered": located.candidates_considered if located else None,
        "effective_rpo_seconds": effective_rpo,
        "newest_verified_location": verified.newest_verified_location if verified else None,
        "live_item_count": verified.live_item_count if verified else None,
        "dynamodb_limits_checked": verified.limits_checked if verified else None,
        "dynamodb_limit_violations": verified.limit_violations if verified else None,
    }


def _scratch_block(
    spec: DrillSpec,
    scratch_deleted: bool | None,
    created: ScratchTable | None,
    restored: RestoreResult | None,
    dropped: DroppedScratch | None,
) -> dict[str, Any]:
    return {
        "name": spec.scratch_table,
        "deleted": scratch_deleted,
        "created_at": scratch_created_at(created, restored),
        "deleted_at": dropped.deleted_at if dropped and scratch_deleted else None,
        "kept": bool(dropped and dropped.kept) and not scratch_deleted,
        "indexes": list(created.indexes) if created else [],
        "warm_throughput": created.warm_throughput if created else None,
    }


def scratch_created_at(created: ScratchTable | None, restored: RestoreResult | None) -> str | None:
    """When the scratch table came to be: made empty by the create step, or by DynamoDB in a server-side restore."""
    if created and created.created_at:
        return created.created_at
    return restored.scratch_created_at if restored else None


_RESTORE_COUNTS = ("retries", "throttled_requests", "duplicate_keys")


def _items_per_second(restored: RestoreResult, items: int | None) -> float | None:
    seconds = seconds_between(restored.writes_started_at or restored.started_at, restored.finished_at)
    return round(items / seconds, 1) if seconds and items is not None else None


def _restored_count(restored: RestoreResult, validated: ValidationResult | None) -> tuple[int | None, str | None]:
    """The restored item count and who counted it.

    A server-side restore does not scan its table to count it: the validate step's full scan is
    the exact count of what DynamoDB restored (None when validate did not get as far as counting).
    """
    if restored.items_restored is not None:
        return restored.items_restored, "restore"
    counted = validated.restored_items if validated else None
    return counted, "validate" if counted is not None else None


def _restore_block(restored: RestoreResult | None, validated: ValidationResult | None) -> dict[str, Any]:
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
            "peak_in_flight": None,
            "tasks": 0,
            **dict.fromkeys(_RESTORE_COUNTS, 0),
            "rejected_items": [],
            "items_per_second": None,
        }
    items, counted_by = _restored_count(restored, validated)
    # The try that finished: its own start, so that its duration and its rate tell the same story
    # (an earlier try that failed, and Airflow's wait before the next, are in the RTO instead).
    started_at = restored.writes_started_at or restored.started_at
    return {
        "items_restored": items,
        "items_restored_counted_by": counted_by,
        "items_failed": restored.items_failed,
        "started_at": started_at,
        "finished_at": restored.finished_at,
        "duration_seconds": seconds_between(started_at, restored.finished_at),
        "method": restored.method.value,
        "workers": restored.workers,
        "peak_in_flight": restored.peak_in_flight,
        "tasks": restored.parts,
        **{name: getattr(restored, name) for name in _RESTORE_COUNTS},
        "rejected_items": list(restored.rejected_keys)[:20],
        "items_per_second": _items_per_second(restored, items),
    }


_VALIDATION_FINDINGS = (
    "content_digest_expected",
    "content_digest_actual",
    "digest_match",
    "missing_items",
    "extra_items",
    "different_items",
    "localisation",
    "items_proven",
    "sample_seed",
    "sample_basis",
    "samples_checked",
    "sample_mismatches",
    "first_sample_mismatch_keys",
    "type_drift",
    "checks",
    "proofs",
    "proofs_skipped",
)


def _validation_block(validated: ValidationResult | None) -> dict[str, Any]:
    """What each proof found; a proof that did not run leaves its fields null (or empty), never invented."""
    found = (validated or ValidationResult(passed=False, expected_items=None, restored_items=0)).to_xcom()
    return {
        "passed": bool(validated and validated.passed),
        "expected_items": validated.expected_items if validated else None,
        "restored_items": validated.restored_items if validated else None,
        **{name: found[name] for name in _VALIDATION_FINDINGS},
        "scan": found["scan"],
    }


def _objectives_block(
    spec: DrillSpec,
    restored: RestoreResult | None,
    validated: ValidationResult | None,
    taken_at: datetime | None,
) -> dict[str, Any]:
    """RTO: restore start to validation end, only once validation proved the restore.

    RPO: drill start minus the backup's own time.
    """
    started = datetime.fromisoformat(spec.started_at)
    rpo_seconds = None if taken_at is None else round((started - taken_at).total_seconds(), 3)
    proven = bool(restored and validated and validated.passed)
    rto_seconds = seconds_between(restored.started_at, validated.finished_at) if proven else None  # type: ignore[union-attr]
    return {
        "rto_target_seconds": spec.rto_target_seconds,
        "rto_seconds": rto_seconds,
        "rto_met": _met(rto_seconds, spec.rto_target_seconds),
        "rpo_target_seconds": spec.rpo_target_seconds,
        "rpo_seconds": rpo_seconds,
        "rpo_met": _met(rpo_seconds, spec.rpo_target_seconds),
        "advisory": spec.objectives_advisory,
    }


OBJECTIVES_STEP = "objectives"


def missed_objectives(objectives: dict[str, Any]) -> list[str]:
    """Return a sentence per missed target (RTO first), with the measured and the target value."""
    missed = []
    if objectives["rto_met"] is False:
        missed.append(
            f"RTO target missed: restore and validation took {objectives['rto_seconds']} s,"
            f" target {objectives['rto_target_seconds']} s"
        )
    if objectives["rpo_met"] is False:
        missed.append(
            f"RPO target missed: the backup was {objectives['rpo_seconds']} s old at the drill's start,"
            f" target {objectives['rpo_target_seconds']} s"
        )
    return missed


def objectives_verdict(objectives: dict[str, Any], recovery: dict[str, Any] | None = None) -> dict[str, str] | None:
    """The failure a missed RTO, RPO or copy lag target makes of an otherwise proven drill; None when met or advisory.

    A restore that works but too slowly, or from a backup too old, does not meet the recovery
    objectives the plan promises, so by default it fails the drill; ``objectives_advisory``
    keeps the drill's status on the proofs alone and only reports the miss.
    """
    missed = missed_objectives(objectives) + missed_copy_lag(recovery)
    if not missed or objectives.get("advisory"):
        return None
    return {"step": OBJECTIVES_STEP, "reason": "; ".join(missed)}


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


def plan_entry(spec: DrillSpec | dict[str, Any]) -> dict[str, Any]:
    """Return the per-table settings the drill ran with, after plan defaults, table entry and conf."""
    spec = DrillSpec.from_xcom(spec)
    given = spec.to_xcom()
    return {"table_name": spec.table_name, **{key: given[key] for key in SETTING_SCHEMAS if key in given}}


def sha256_of(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _run_type(run_id: str) -> str | None:
    prefix, sep, _ = run_id.partition("__")
    return prefix if sep else None


def _run_block(spec: DrillSpec, run: dict[str, Any] | None) -> dict[str, Any]:
    run = run or {}
    return {
        "try_number": run.get("try_number"),
        "run_type": run.get("run_type") or _run_type(spec.run_id),
        "triggering_user": run.get("triggering_user"),
        "step_tries": dict(run.get("step_tries") or {}),
        **{key: run[key] for key in ("table_dag_id", "table_run_id") if run.get(key)},
    }


def _backup_identity(located: LocatedBackup | None, verified: VerifiedBackup | None) -> dict[str, Any]:
    """What names the exact backup drilled: the union of what locate and verify saw, per source."""
    found = {**(located.to_xcom() if located else {}), **(verified.to_xcom() if verified else {})}
    return {key: found[key] for key in _BACKUP_IDENTITY_KEYS if found.get(key) is not None}


def _timeline(
    spec: DrillSpec,
    created: ScratchTable | None,
    restored: RestoreResult | None,
    validated: ValidationResult | None,
    dropped: DroppedScratch | None,
    generated_at: datetime,
) -> dict[str, Any]:
    """When each thing happened, the scratch table's life included; null for what did not happen."""
    return {
        "drill_started_at": spec.started_at,
        "scratch_created_at": scratch_created_at(created, restored),
        "restore_started_at": restored.started_at if restored else None,
        "restore_finished_at": restored.finished_at if restored else None,
        "validation_finished_at": validated.finished_at if validated else None,
        "scratch_deleted_at": dropped.deleted_at if dropped and dropped.deleted else None,
        "scratch_kept": bool(dropped and dropped.kept),
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


def _objective_detail(objectives: dict[str, Any], name: str) -> str:
    measured = objectives[f"{name}_seconds"]
    detail = (
        f"{'not measured' if measured is None else f'{measured} s'}, target {objectives[f'{name}_target_seconds']} s"
    )
    return detail + (" (advisory: does not decide the drill)" if objectives.get("advisory") else "")


def _checks(record: dict[str, Any], validated: ValidationResult | None) -> list[dict[str, Any]]:
    """Every check the drill made, with its result; a step that did not run leaves its checks not_run."""
    backup, restore, validation = record["backup"], record["restore"], record["validation"]
    objectives, failure = record["objectives"], record["failure"] or {}
    located = backup["location"] is not None
    # Failed only when verify found the backup corrupt: a backup it could not find or read to its end is not run.
    corrupt = failure.get("step") == "verify" and failure.get("error") == "BackupCorrupt"
    checksum = True if backup["checksum_verified"] else (False if corrupt else None)
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
    for extra in validated.checks if validated else ():
        if isinstance(extra, dict) and "name" in extra:
            checks.append(_check(str(extra["name"]), extra.get("passed"), str(extra.get("detail", ""))))
    checks += [
        _check("scratch_table_deleted", record["scratch_table"]["deleted"], record["scratch_table"]["name"]),
        _check("rto_met", objectives["rto_met"], _objective_detail(objectives, "rto")),
        _check("rpo_met", objectives["rpo_met"], _objective_detail(objectives, "rpo")),
    ]
    return checks


def build_evidence(
    spec: DrillSpec | dict[str, Any],
    *,
    located: LocatedBackup | dict[str, Any] | None,
    verified: VerifiedBackup | dict[str, Any] | None,
    restored: RestoreResult | dict[str, Any] | None,
    validated: ValidationResult | dict[str, Any] | None,
    scratch_deleted: bool | None,
    failure: StepFailure | dict[str, Any] | None,
    generated_at: datetime,
    created: ScratchTable | dict[str, Any] | None = None,
    dropped: DroppedScratch | dict[str, Any] | None = None,
    run: dict[str, Any] | None = None,
    software: dict[str, str | None] | None = None,
    previous: dict[str, Any] | None = None,
    storage: dict[str, Any] | None = None,
    s3_requests: dict[str, int] | None = None,
    region: str | None = None,
    recovery: RecoveryCopy | dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble one table's record from what each step handed on (None for a step that did not finish).

    ``s3_requests`` are the S3 requests the steps counted, by operation, and ``region`` the
    drill's AWS region, whose list prices the cost estimate uses unless the plan overrides them.

    Each step's result is read as its contract (``dr_drill.contracts``), as XCom gives it or
    already typed. The record comes sealed (see ``dr_drill.core.evidence.chain``): linked to
    ``previous`` (the table's latest stored record) and hashed, with ``storage`` saying where
    it is stored (None when it could not be). ``recovery``: both sides of a drill on the recovery
    side, as the locate step found them.
    """
    spec = DrillSpec.from_xcom(spec)
    located = _typed(LocatedBackup, located)
    verified = _typed(VerifiedBackup, verified)
    restored = _typed(RestoreResult, restored)
    validated = _typed(ValidationResult, validated)
    created = _typed(ScratchTable, created)
    dropped = _typed(DroppedScratch, dropped)
    failed = _typed(StepFailure, failure)
    taken_at = backup_time(located, verified)
    objectives = _objectives_block(spec, restored, validated, taken_at)
    failure_block = {"step": failed.step.value, "reason": failed.reason, "error": failed.error} if failed else None
    recovery_block = _recovery_block(spec, _typed(RecoveryCopy, recovery), located)
    if failed is None and validated and validated.passed:
        failure_block = objectives_verdict(objectives, recovery_block)
    passed = failure_block is None and bool(validated and validated.passed)
    entry = plan_entry(spec)
    record = {
        "schema_version": SCHEMA_VERSION,
        "drill_id": spec.drill_id,
        "dag_id": spec.dag_id,
        "run_id": spec.run_id,
        "table_name": spec.table_name,
        "status": "passed" if passed else "failed",
        "failure": failure_block,
        "backup": _backup_block(spec, located, verified, taken_at),
        "scratch_table": _scratch_block(spec, scratch_deleted, created, restored, dropped),
        "restore": _restore_block(restored, validated),
        "validation": _validation_block(validated),
        "objectives": objectives,
        "generated_at": generated_at.isoformat(),
        "started_at": spec.started_at,
        "run": _run_block(spec, run),
        "software": software if software is not None else software_versions(),
        "plan_entry": entry,
        "plan_entry_sha256": sha256_of(entry),
        "backup_identity": _backup_identity(located, verified),
        "timeline": _timeline(spec, created, restored, validated, dropped, generated_at),
        "recovery": recovery_block,
    }
    record["checks"] = _checks(record, validated) + _recovery_checks(recovery_block)
    record["cost"] = _cost_block(spec, record, restored, validated, s3_requests, region)
    return seal({**record, "storage": storage}, previous)


def _cost_block(
    spec: DrillSpec,
    record: dict[str, Any],
    restored: RestoreResult | None,
    validated: ValidationResult | None,
    s3_requests: dict[str, int] | None,
    region: str | None,
) -> dict[str, Any]:
    """What the drill consumed, as DynamoDB reported it and the drill counted it, and its estimated price."""
    scratch = record["scratch_table"]
    method = restored.method if restored else None
    return drill_cost(
        write_units=restored.consumed_write_units if restored else None,
        read_units=(validated.scan or {}).get("read_units") if validated else None,
        hours=table_hours(scratch["created_at"], scratch["deleted_at"] or record["generated_at"]),
        s3_requests=s3_request_counts(s3_requests),
        server_side_restore=method.value if method and method.server_side else None,
        warm_throughput_asked=bool((scratch.get("warm_throughput") or {}).get("requested")),
        region=region,
        overrides=spec.prices,
    )


def _typed(contract: type[C], value: C | dict[str, Any] | None) -> C | None:
    return None if value is None else contract.from_xcom(value)


# The recovery side ---------------------------------------------------------------------------------


def _recovery_block(
    spec: DrillSpec, found: RecoveryCopy | None, located: LocatedBackup | None
) -> dict[str, Any] | None:
    """Both sides of a drill on the recovery side, the copy restored and its lag; None for a drill at the source."""
    if not spec.recovery:
        return None
    # Nothing known of either side when the locate step did not get as far as asking: all null, never guessed.
    facts = found.to_xcom() if found else dict.fromkeys(f.name for f in fields(RecoveryCopy))
    target = spec.recovery["copy_lag_target_seconds"]
    lag = facts["copy_lag_seconds"]
    return {
        "source": {
            "aws_conn_id": facts["source_aws_conn_id"],
            "account": facts["source_account"],
            "region": facts["source_region"],
            "newest_backup_location": facts["newest_source_location"],
            "newest_backup_time": facts["newest_source_backup_time"],
            "error": facts["source_error"],
        },
        "recovery": {
            "aws_conn_id": spec.recovery["aws_conn_id"],
            "account": facts["recovery_account"],
            "region": facts["recovery_region"] or spec.recovery["region"],
            "backup_bucket": spec.recovery.get("backup_bucket"),
            "backup_vault": spec.recovery.get("backup_vault"),
            "newest_copy_location": facts["newest_copy_location"],
            "newest_copy_time": facts["newest_copy_backup_time"],
        },
        "copy_restored": located.location if located else None,
        "uncopied_location": facts["uncopied_location"],
        "uncopied_backup_time": facts["uncopied_backup_time"],
        "copy_lag_seconds": lag,
        "copy_lag_target_seconds": target,
        "copy_lag_met": _met(lag, target),
    }


def missed_copy_lag(recovery: dict[str, Any] | None) -> list[str]:
    """The sentence of a missed copy lag target, naming the newest source backup with no copy; else nothing."""
    if not recovery or recovery["copy_lag_met"] is not False:
        return []
    uncopied = f"; {recovery['uncopied_location']} has no copy there" if recovery["uncopied_location"] else ""
    return [
        f"copy lag target missed: the recovery side's newest copy is {recovery['copy_lag_seconds']} s behind the"
        f" source's newest backup, target {recovery['copy_lag_target_seconds']} s{uncopied}"
    ]


def _recovery_checks(recovery: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not recovery:
        return []
    lag = recovery["copy_lag_seconds"]
    detail = f"{'not measured' if lag is None else f'{lag} s'}, target {recovery['copy_lag_target_seconds']} s"
    return [_check("copy_lag_met", recovery["copy_lag_met"], detail)]
