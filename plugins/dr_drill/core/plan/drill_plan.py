"""The drill plan, the trigger conf and the settings, resolved into one spec per table."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jsonschema

from dr_drill.constants import DEFAULT_RESTORE_WORKERS, BackupSource
from dr_drill.contracts import DrillSpec
from dr_drill.core.evidence.cost import PRICES_SCHEMA
from dr_drill.core.plan.recovery import RECOVERY_SCHEMA, recovery_side
from dr_drill.core.plan.request import refused, requested
from dr_drill.core.plan.selection import SELECTION_SCHEMA, SelectionPolicy
from dr_drill.core.restore.scratch import DEFAULT_SCRATCH_PREFIX, scratch_table_name
from dr_drill.core.validate.rules import VALIDATION_DEFAULTS
from dr_drill.errors import InvalidDrillRequest

TABLE_NAME_PATTERN = r"^[a-zA-Z0-9_.-]{3,255}$"
BACKUP_SOURCES = tuple(source.value for source in BackupSource)
NIGHTLY_DEFAULTS: dict[str, Any] = {
    "backup_source": "s3_json",
    "backup_bucket": None,
    "backup_file": None,
    "batch_size": 25,
    "rto_target_seconds": 3600,
    "rpo_target_seconds": 26 * 3600,  # a nightly backup plus two hours of slack
    "keep_scratch_table": False,
    "export_prefix": None,
    "selection": None,
    **VALIDATION_DEFAULTS,
    "include_indexes": True,
    "key_schema": None,
    "restore_workers": DEFAULT_RESTORE_WORKERS,
    "import_table": False,
    "restore_tasks": 1,
    # A backup far smaller than the live table is a finding (verify), and so is an empty
    # restore (min_items 1), unless the plan says the table may be empty.
    "max_backup_shrink_percent": 50,
    "allow_empty_table": False,
    # A missed RTO or RPO target fails the drill, unless the plan makes them advisory.
    "objectives_advisory": False,
    # Scale and cost: the cap on the warm throughput asked of a scratch table (40,000 write
    # units/s, DynamoDB's default per-table on-demand quota) and prices overriding the region's list prices.
    "max_warm_write_units": 40_000,
    "prices": None,
    "recovery": None,
}
SWEEP_MAX_AGE_HOURS_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": 24 * 90}
DEFAULT_SWEEP_MAX_AGE_HOURS = 24

# One schema per per-table setting: the DAG's Params and the plan file share them.
SETTING_SCHEMAS: dict[str, dict[str, Any]] = {
    "backup_source": {"type": "string", "enum": list(BACKUP_SOURCES)},
    "backup_bucket": {"type": ["null", "string"], "pattern": r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"},
    "backup_file": {"type": ["null", "string"], "minLength": 1, "maxLength": 1024},
    "batch_size": {"type": "integer", "minimum": 1, "maximum": 25},
    "rto_target_seconds": {"type": "integer", "minimum": 1},
    "rpo_target_seconds": {"type": "integer", "minimum": 1},
    "keep_scratch_table": {"type": "boolean"},
    "export_prefix": {"type": ["null", "string"], "maxLength": 1024},
    "selection": SELECTION_SCHEMA,
    # The validate step's rules and proofs (see dr_drill.core.validate.rules).
    "min_items": {"type": ["null", "integer"], "minimum": 0},
    "max_items": {"type": ["null", "integer"], "minimum": 0},
    "required_attributes": {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True},
    "probe_keys": {
        "type": "array",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["key"],
            "properties": {"key": {"type": "object", "minProperties": 1}, "expect": {"type": "object"}},
        },
    },
    "user_check": {"type": ["null", "string"], "pattern": r"^[A-Za-z_][A-Za-z0-9_]*([.:][A-Za-z_][A-Za-z0-9_]*)+$"},
    "sample_size": {"type": "integer", "minimum": 0, "maximum": 10000},
    "sample_seed": {"type": ["null", "integer"], "minimum": 0, "maximum": 2**63 - 1},
    "fail_on_type_drift": {"type": "boolean"},
    "scan_segments": {"type": ["null", "integer"], "minimum": 1, "maximum": 64},
    "include_indexes": {"type": "boolean"},
    "key_schema": {
        "type": ["null", "array"],
        "description": "For file backups when the source table is gone: partition key, then optional sort key.",
        "minItems": 1,
        "maxItems": 2,
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "type"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 255},
                "type": {"enum": ["S", "N", "B"]},
            },
        },
    },
    "restore_workers": {"type": "integer", "minimum": 1, "maximum": 64},
    "import_table": {"type": "boolean"},
    "restore_tasks": {"type": "integer", "minimum": 1, "maximum": 32},
    "max_backup_shrink_percent": {"type": "number", "minimum": 0, "maximum": 100},
    "allow_empty_table": {"type": "boolean"},
    "objectives_advisory": {"type": "boolean"},
    # Scale and cost (max_scan_segments is a validation key, beside scan_segments).
    "max_warm_write_units": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
    "max_scan_segments": {"type": "integer", "minimum": 1, "maximum": 64},
    "prices": PRICES_SCHEMA,
    "recovery": RECOVERY_SCHEMA,
}

_PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "defaults": {"type": "object", "additionalProperties": False, "properties": SETTING_SCHEMAS},
        "tables": {
            "type": "object",
            "propertyNames": {"pattern": TABLE_NAME_PATTERN},
            "additionalProperties": {
                "type": ["object", "null"],
                "additionalProperties": False,
                "properties": SETTING_SCHEMAS,
            },
        },
    },
}


@dataclass(frozen=True)
class Settings:
    """Deployment settings: Airflow Variables, or environment variables of the same names."""

    backup_bucket: str | None
    evidence_bucket: str | None
    success_topic_arn: str | None
    failure_topic_arn: str | None
    scratch_prefix: str = DEFAULT_SCRATCH_PREFIX


def _schema_error(where: str, err: jsonschema.ValidationError) -> InvalidDrillRequest:
    field = ".".join(str(part) for part in err.absolute_path) or "(top level)"
    return InvalidDrillRequest(f"{where}: field {field}: {err.message}")


def validate_plan(plan: Any) -> dict[str, Any]:
    """Return the plan as a dict with every table entry filled in.

    :raises InvalidDrillRequest: naming the field that is wrong.
    """
    plan = plan or {}
    try:
        jsonschema.validate(plan, _PLAN_SCHEMA)
    except jsonschema.ValidationError as err:
        raise _schema_error("drill plan", err) from err
    return {
        "defaults": dict(plan.get("defaults") or {}),
        "tables": {name: dict(entry or {}) for name, entry in (plan.get("tables") or {}).items()},
    }


def requested_tables(conf: Mapping[str, Any], plan: Mapping[str, Any]) -> list[str]:
    """Return the tables to drill: those the conf names, else every table of the plan."""
    named = list(conf.get("tables") or [])
    if conf.get("table_name"):
        named.insert(0, conf["table_name"])
    tables = list(dict.fromkeys(named)) or list(plan["tables"])
    if not tables:
        raise InvalidDrillRequest("no tables to drill: the drill plan lists none and the conf names none")
    return tables


def drill_id_for(dag_id: str, run_id: str, table_name: str, started_at: datetime) -> str:
    """Return an id that sorts by time and is unique per (dag, run, table)."""
    digest = hashlib.sha256(f"{dag_id}\0{run_id}\0{table_name}".encode()).hexdigest()[:12]
    return f"{started_at:%Y%m%dT%H%M%SZ}-{digest}"


def _selection(table: str, value: Any) -> dict[str, Any]:
    """Return the selection policy in its canonical form, refusing one that cannot be parsed."""
    try:
        return SelectionPolicy.parse(value).to_dict()
    except InvalidDrillRequest as err:
        raise InvalidDrillRequest(f"table {table}: {err.reason}") from err


def _check_item_bounds(table: str, merged: Mapping[str, Any]) -> None:
    low, high = merged["min_items"], merged["max_items"]
    if low is not None and high is not None and low > high:
        raise InvalidDrillRequest(f"table {table}: min_items {low} is above max_items {high}")


def _server_side(merged: Mapping[str, Any]) -> bool:
    source = BackupSource(merged["backup_source"])
    return source not in (BackupSource.S3_JSON, BackupSource.S3_EXPORT) or bool(
        source is BackupSource.S3_EXPORT and merged["import_table"]
    )


def _check_combinations(table: str, merged: Mapping[str, Any], asked: Mapping[str, Any]) -> None:
    """Refuse what the trigger asked for that cannot apply to this table's drill, naming the field."""
    source = merged["backup_source"]
    if "backup_file" in asked and source != BackupSource.S3_JSON:
        raise refused("backup_file", f"is an s3_json object key, but table {table} drills from {source}")
    if "export_prefix" in asked and source != BackupSource.S3_EXPORT:
        raise refused("export_prefix", f"applies to s3_export, but table {table} drills from {source}")
    if "batch_size" in asked and _server_side(merged):
        raise refused("batch_size", f"applies to batch writes, but table {table} is restored server-side ({source})")
    if asked.get("restore_tasks", 1) > 1 and (source != BackupSource.S3_EXPORT or _server_side(merged)):
        raise refused("restore_tasks", f"splits a batch-written s3_export, but table {table} drills from {source}")


def _validation(merged: Mapping[str, Any]) -> dict[str, Any]:
    rules = {key: merged[key] for key in VALIDATION_DEFAULTS}
    if rules["min_items"] is None and not merged["allow_empty_table"]:
        rules["min_items"] = 1  # an empty restore is a finding unless the plan allows an empty table
    return rules


def resolve_drill_specs(
    *,
    plan: Any,
    conf: Mapping[str, Any] | None,
    settings: Settings,
    dag_id: str,
    run_id: str,
    started_at: datetime,
) -> list[DrillSpec]:
    """Merge built-in defaults < plan defaults < plan table entry < what the trigger asked for, per table.

    ``conf`` is the run's conf as posted: by the form (every param, empty ones included), the
    API or the CLI (only some keys); ``dr_drill.core.plan.request.requested`` gives it one meaning.

    :raises InvalidDrillRequest: when the result cannot describe a drill.
    """
    asked = requested(conf, plan_only=frozenset(SETTING_SCHEMAS))
    plan = validate_plan(plan)
    tables = requested_tables(asked, plan)
    if asked.get("backup_file") and len(tables) > 1:
        raise refused("backup_file", "names one object: give it with a single table")
    if not settings.evidence_bucket:
        raise InvalidDrillRequest("EVIDENCE_BUCKET is not set: evidence has nowhere to go")
    overrides = {key: asked[key] for key in SETTING_SCHEMAS if key in asked}
    specs = []
    for table in tables:
        merged = {**NIGHTLY_DEFAULTS, **plan["defaults"], **plan["tables"].get(table, {}), **overrides}
        bucket = merged["backup_bucket"] or settings.backup_bucket
        selection = _selection(table, merged["selection"])
        if not bucket and BackupSource(merged["backup_source"]).in_s3:
            raise InvalidDrillRequest(
                f"table {table}: no backup_bucket in the conf or the plan, and BACKUP_BUCKET is not set"
            )
        _check_combinations(table, merged, asked)
        _check_item_bounds(table, merged)
        try:
            recovery = recovery_side(table, merged["backup_source"], merged["recovery"])
        except InvalidDrillRequest as err:
            if "recovery" in asked:  # the trigger's, not the plan's: name the field for the notification
                raise refused("recovery", err.reason) from err
            raise
        specs.append(
            DrillSpec(
                drill_id=drill_id_for(dag_id, run_id, table, started_at),
                dag_id=dag_id,
                run_id=run_id,
                started_at=started_at.isoformat(),
                table_name=table,
                backup_source=merged["backup_source"],
                backup_bucket=bucket,
                backup_file=merged["backup_file"],
                batch_size=merged["batch_size"],
                rto_target_seconds=merged["rto_target_seconds"],
                rpo_target_seconds=merged["rpo_target_seconds"],
                keep_scratch_table=merged["keep_scratch_table"],
                scratch_prefix=settings.scratch_prefix,
                scratch_table=scratch_table_name(table, run_id, settings.scratch_prefix),
                evidence_bucket=settings.evidence_bucket,
                success_topic_arn=settings.success_topic_arn,
                failure_topic_arn=settings.failure_topic_arn,
                export_prefix=merged["export_prefix"],
                selection=selection,
                validation=_validation(merged),
                include_indexes=merged["include_indexes"],
                key_schema=merged["key_schema"],
                restore_workers=merged["restore_workers"],
                import_table=merged["import_table"],
                restore_tasks=merged["restore_tasks"],
                max_backup_shrink_percent=merged["max_backup_shrink_percent"],
                allow_empty_table=merged["allow_empty_table"],
                objectives_advisory=merged["objectives_advisory"],
                max_warm_write_units=merged["max_warm_write_units"],
                prices=merged["prices"],
                recovery=recovery,
            )
        )
    return specs
