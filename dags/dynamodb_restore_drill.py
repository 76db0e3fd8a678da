"""Nightly disaster-recovery drill for DynamoDB tables.

For each table of the drill plan (or those a manual trigger names): locate the backup,
verify it, restore it into a NEW scratch table, validate the restore, drop the scratch
table, record evidence, metrics and a notification, and fail the run if the drill failed.

Params, schedule and wiring only: no AWS call and no file I/O happen at parse time.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from airflow.sdk import DAG, Param, get_current_context, task, task_group

from dr_drill.core.plan.drill_plan import (
    BACKUP_SOURCES,
    DEFAULT_SWEEP_MAX_AGE_HOURS,
    SETTING_SCHEMAS,
    SWEEP_MAX_AGE_HOURS_SCHEMA,
    TABLE_NAME_PATTERN,
    resolve_drill_specs,
)
from dr_drill.operators.backup import LocateBackupOperator, VerifyBackupOperator
from dr_drill.operators.record import DrillVerdictOperator, RecordDrillOperator
from dr_drill.operators.restore import CombineRestoreOperator, RestoreBackupOperator
from dr_drill.operators.scratch import (
    CreateScratchTableOperator,
    DropScratchTableOperator,
    SweepScratchTablesOperator,
)
from dr_drill.operators.settings import read_settings, setting
from dr_drill.operators.validate import ValidateRestoreOperator

log = logging.getLogger(__name__)
DAG_ID = "dynamodb_restore_drill"
DEFAULT_PLAN_PATH = Path(__file__).with_name("drill_plan.yaml")
MAX_PARALLEL_TABLES = int(os.environ.get("DR_DRILL_MAX_PARALLEL_TABLES", "4"))
# Restore tasks in each table's group: a large s3_export split by the plan's restore_tasks
# runs its shares in parallel on any executor; unused ones are skipped. (Airflow 3.3 cannot
# map a task inside the mapped table group, so the fan-out is fixed here.)
RESTORE_TASKS = int(os.environ.get("DR_DRILL_RESTORE_TASKS", "4"))


def _param(default: Any, **schema: Any) -> Param:
    # Airflow checks a param's schema against its metaschema each time it resolves the params, many
    # times per task: draft 7's metaschema checks several times faster than the default 2020-12, and
    # these schemas use nothing newer.
    return Param(default, **{"$schema": "http://json-schema.org/draft-07/schema#"}, **schema)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return {**schema, "type": ["null", *[kind for kind in kinds if kind != "null"]]}


PARAMS = {
    "table_name": _param(
        None,
        type=["null", "string"],
        pattern=TABLE_NAME_PATTERN,
        title="Table",
        description="One table to drill (the original function's key). Empty: the drill plan's tables.",
    ),
    "tables": _param(
        [],
        type="array",
        items={"type": "string", "pattern": TABLE_NAME_PATTERN},
        uniqueItems=True,
        title="Tables",
        description="Several tables to drill. Empty: the drill plan's tables.",
    ),
    "backup_bucket": _param(
        None, **SETTING_SCHEMAS["backup_bucket"], description="Bucket of the backups. Empty: plan or BACKUP_BUCKET."
    ),
    "backup_file": _param(
        None,
        **SETTING_SCHEMAS["backup_file"],
        description="Object key of one backup to drill. Empty: the newest backup of the table.",
    ),
    "batch_size": _param(25, **SETTING_SCHEMAS["batch_size"], description="Items per BatchWriteItem request."),
    "backup_source": _param(
        BACKUP_SOURCES[0], **SETTING_SCHEMAS["backup_source"], description="Kind of backup to restore."
    ),
    "rto_target_seconds": _param(
        None, **_nullable(SETTING_SCHEMAS["rto_target_seconds"]), description="Recovery time target. Empty: plan."
    ),
    "rpo_target_seconds": _param(
        None, **_nullable(SETTING_SCHEMAS["rpo_target_seconds"]), description="Backup age target. Empty: plan."
    ),
    "keep_scratch_table": _param(
        False, **SETTING_SCHEMAS["keep_scratch_table"], description="Keep the scratch table for inspection."
    ),
    "export_prefix": _param(
        None,
        **SETTING_SCHEMAS["export_prefix"],
        description="s3_export: the S3 prefix the table's exports were written under (before AWSDynamoDB/).",
    ),
    "selection": _param(
        None,
        **SETTING_SCHEMAS["selection"],
        description='Which backup: "latest" (default), {"policy": "latest_before", "before": ISO time}, '
        '{"policy": "random_within_days", "days": N, "seed": optional}, or {"policy": "explicit", "backup": '
        "object key, export id or ARN, backup ARN, or PITR time}. Empty: plan.",
    ),
    "sample_size": _param(
        None, **_nullable(SETTING_SCHEMAS["sample_size"]), description="Items deep-compared at random. Empty: plan."
    ),
    "sample_seed": _param(
        None, **SETTING_SCHEMAS["sample_seed"], description="Seed of the sample, to replay a drill's. Empty: new."
    ),
    "restore_tasks": _param(
        None,
        **{**_nullable(SETTING_SCHEMAS["restore_tasks"]), "maximum": RESTORE_TASKS},
        description="s3_export: restore the data files in this many parallel tasks. Empty: plan (default 1).",
    ),
    "sweep_max_age_hours": _param(
        DEFAULT_SWEEP_MAX_AGE_HOURS,
        **SWEEP_MAX_AGE_HOURS_SCHEMA,
        description="Scratch tables (prefix and tag) older than this, left by crashed runs, are deleted first.",
    ),
}


@task
def plan_drills() -> list[dict[str, Any]]:
    """Resolve the drill plan, the trigger conf and the settings into one spec per table."""
    context = get_current_context()
    dag_run = context["dag_run"]
    params = context["params"]
    given = dag_run.conf or {}
    # Only keys the trigger really gave override the plan; a param's default does not.
    conf = {key: params[key] for key in PARAMS if key in given and params[key] is not None}
    plan_path = Path(setting("DRILL_PLAN_PATH") or DEFAULT_PLAN_PATH)
    plan = yaml.safe_load(plan_path.read_text()) if plan_path.exists() else {}
    specs = resolve_drill_specs(
        plan=plan,
        conf=conf,
        settings=read_settings(),
        dag_id=dag_run.dag_id,
        run_id=dag_run.run_id,
        started_at=datetime.now(UTC).replace(microsecond=0),
        restore_task_slots=RESTORE_TASKS,
    )
    for spec in specs:
        log.info("Drilling %s from s3://%s into %s", spec.table_name, spec.backup_bucket, spec.scratch_table)
    return [spec.to_xcom() for spec in specs]


@task_group(group_id="drill")
def drill_table(spec: dict[str, Any]) -> None:
    """One table's drill; the group is mapped over the tables."""
    capped = {"max_active_tis_per_dagrun": MAX_PARALLEL_TABLES}
    locate = LocateBackupOperator(task_id="locate", spec=spec, **capped)
    verify = VerifyBackupOperator(task_id="verify", spec=spec, located=locate.output, **capped)
    create = CreateScratchTableOperator(task_id="create_scratch_table", spec=spec, located=locate.output, **capped)
    parts = [
        RestoreBackupOperator(
            task_id=f"restore_part_{part}",
            spec=spec,
            located=locate.output,
            scratch=create.output,
            verified=verify.output,
            part=part,
            **capped,
        )
        for part in range(1, RESTORE_TASKS + 1)
    ]
    restore = CombineRestoreOperator(
        task_id="restore",
        spec=spec,
        located=locate.output,
        verified=verify.output,
        part_task_ids=[part.task_id for part in parts],
        trigger_rule="all_done",
        **capped,
    )
    validate = ValidateRestoreOperator(
        task_id="validate",
        spec=spec,
        verified=verify.output,
        restored=restore.output,
        located=locate.output,
        **capped,
    )
    drop = DropScratchTableOperator(
        task_id="drop_scratch_table", spec=spec, claim_task_ids=[create.task_id, parts[0].task_id], **capped
    )
    record = RecordDrillOperator(
        task_id="record",
        spec=spec,
        step_task_ids={
            "locate": locate.task_id,
            "verify": verify.task_id,
            "create": create.task_id,
            "restore": restore.task_id,
            "validate": validate.task_id,
            "drop": drop.task_id,
        },
        restore_part_task_ids=[part.task_id for part in parts],
        trigger_rule="all_done",
        **capped,
    )
    verdict = DrillVerdictOperator(task_id="verdict", outcome=record.output, retries=0, **capped)
    verify >> create
    parts >> restore
    validate >> drop >> record >> verdict
    drop.as_teardown(setups=create)


with DAG(
    dag_id=DAG_ID,
    description="Prove nightly that DynamoDB tables can be restored from their backups",
    schedule=os.environ.get("DR_DRILL_SCHEDULE", "0 2 * * *"),
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    tags=["dr-drill", "dynamodb", "compliance"],
    doc_md=__doc__,
) as dag:
    # Housekeeping first (frees the table quota), never blocking the drills: even a failed sweep
    # lets plan_drills run, and as it is no leaf it does not decide the run's state.
    sweep = SweepScratchTablesOperator(task_id="sweep_scratch_tables", max_age_hours="{{ params.sweep_max_age_hours }}")
    specs = plan_drills.override(trigger_rule="all_done")()
    sweep >> specs
    drill_table.expand(spec=specs)
