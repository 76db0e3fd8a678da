"""Nightly disaster-recovery drill for DynamoDB tables.

For each table of the drill plan (or those a manual trigger names): locate the backup,
verify it, restore it into a NEW scratch table, validate the restore, drop the scratch
table, record evidence, metrics and a notification, and fail the run if the drill failed.

Two DAGs. ``dynamodb_restore_drill`` is the one to schedule and trigger: it reads the request
against the drill plan, sweeps old scratch tables, and starts one run of
``dynamodb_restore_drill_table`` per table, waiting for each in the triggerer; it fails when
a table's drill failed. A table's run has the drill's steps, with as many restore tasks as
the backup's data files and the plan's ``restore_tasks`` allow, and as many content-scan
tasks as the scratch table's size asks for (Airflow cannot map a task inside a mapped task
group, so a table is a run, not a group).

Params, schedule and wiring only: no AWS call and no file I/O happen at parse time.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, Param, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from dr_drill.core.plan.drill_plan import (
    BACKUP_SOURCES,
    DEFAULT_SWEEP_MAX_AGE_HOURS,
    SETTING_SCHEMAS,
    SWEEP_MAX_AGE_HOURS_SCHEMA,
    TABLE_NAME_PATTERN,
)
from dr_drill.operators.backup import LocateBackupOperator, VerifyBackupOperator
from dr_drill.operators.plan import PlanDrillsOperator
from dr_drill.operators.record import DrillVerdictOperator, RecordDrillOperator
from dr_drill.operators.restore import CombineRestoreOperator, PlanRestoreOperator, RestoreBackupOperator
from dr_drill.operators.scratch import (
    CreateScratchTableOperator,
    DropScratchTableOperator,
    SweepScratchTablesOperator,
)
from dr_drill.operators.validate import PlanScanOperator, ScanShareOperator, ValidateRestoreOperator

DAG_ID = "dynamodb_restore_drill"
TABLE_DAG_ID = "dynamodb_restore_drill_table"
DEFAULT_PLAN_PATH = Path(__file__).with_name("drill_plan.yaml")
# Tables drilled at once: the table runs' max_active_runs.
MAX_PARALLEL_TABLES = int(os.environ.get("DR_DRILL_MAX_PARALLEL_TABLES", "4"))
# What both DAGs share.
BOTH_DAGS: dict[str, Any] = {
    "start_date": datetime(2025, 1, 1, tzinfo=UTC),
    "catchup": False,
    "default_args": {"retries": 1, "retry_delay": timedelta(minutes=1)},
    "tags": ["dr-drill", "dynamodb", "compliance"],
    "doc_md": __doc__,
}


def _param(default: Any, *, title: str, description: str, section: str, **schema: Any) -> Param:
    # Airflow checks a param's schema against its metaschema each time it resolves the params, many
    # times per task: draft 7's metaschema checks several times faster than the default 2020-12, and
    # these schemas use nothing newer.
    return Param(
        default,
        title=title,
        description=description,
        section=section,
        **{"$schema": "http://json-schema.org/draft-07/schema#"},
        **schema,
    )


def _may_stay_empty(schema: dict[str, Any]) -> dict[str, Any]:
    """The setting's schema with null allowed: the form stars no field whose type allows null."""
    kinds = schema.get("type", [])
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return {**schema, "type": ["null", *[kind for kind in kinds if kind != "null"]]}


def _setting(name: str, *, title: str, description: str, section: str, **overrides: Any) -> Param:
    """A param overriding the plan's ``name``: empty by default, and empty leaves the plan's value in force."""
    schema = _may_stay_empty({**SETTING_SCHEMAS[name], **overrides})
    return _param(
        None, title=title, description=f"{description} Empty: as the drill plan says.", section=section, **schema
    )


WHAT = "What to drill"
WHICH_BACKUP = "Which backup"
RESTORE = "Restore"
PROOF = "Targets and sample"
HOUSEKEEPING = "Housekeeping"

# Every param that can override the plan defaults to empty, so that the form (which posts every
# param, untouched ones at their defaults) asks for exactly what the API asks for with fewer keys.
PARAMS = {
    "table_name": _param(
        None,
        type=["null", "string"],
        pattern=TABLE_NAME_PATTERN,
        title="Table",
        description="One table to drill (the original function's key). Empty: the drill plan's tables.",
        section=WHAT,
    ),
    "tables": _param(
        None,
        type=["null", "array"],
        items={"type": "string", "pattern": TABLE_NAME_PATTERN},
        uniqueItems=True,
        title="More tables",
        description="Other tables to drill, one per line. Empty: only the table above, or the drill plan's tables.",
        section=WHAT,
    ),
    "backup_source": _setting(
        "backup_source",
        title="Backup source",
        description="Where the backup is: s3_json (the original JSON backups), s3_export (Export to S3), "
        "native_backup (on-demand or AWS Backup backups) or pitr (point-in-time recovery).",
        section=WHICH_BACKUP,
        enum=[None, *BACKUP_SOURCES],
        values_display={"null": "(as the drill plan says)"},
    ),
    "backup_bucket": _setting(
        "backup_bucket",
        title="Backup bucket",
        description="s3_json and s3_export: the bucket of the backups (else BACKUP_BUCKET).",
        section=WHICH_BACKUP,
    ),
    "backup_file": _setting(
        "backup_file",
        title="Backup object key",
        description="s3_json, with one Table: the object key of the backup to drill, instead of the newest.",
        section=WHICH_BACKUP,
    ),
    "export_prefix": _setting(
        "export_prefix",
        title="Export prefix",
        description="s3_export: the S3 prefix the table's exports were written under (before AWSDynamoDB/).",
        section=WHICH_BACKUP,
    ),
    "selection": _setting(
        "selection",
        title="Backup selection",
        description='Which backup, as JSON: {"policy": "latest"}, {"policy": "latest_before", "before": '
        '"2026-11-30T00:00:00+00:00"}, {"policy": "random_within_days", "days": 7, "seed": 42} (seed optional), '
        'or {"policy": "explicit", "backup": object key, export id or ARN, backup ARN, or PITR time}.',
        section=WHICH_BACKUP,
        type=["null", "object"],
    ),
    "recovery": _setting(
        "recovery",
        title="Recovery side",
        description='Drill where the recovery would happen, as JSON: {"region": "us-west-2", "aws_conn_id": '
        '"aws_recovery", "backup_bucket": replicated bucket (s3_json, s3_export)} or, for native_backup, '
        '"backup_vault" and "restore_role_arn" instead of the bucket; optional "copy_lag_target_seconds".',
        section=WHICH_BACKUP,
    ),
    "batch_size": _setting(
        "batch_size",
        title="Batch size",
        description="Items per BatchWriteItem request, 1 to 25 (DynamoDB's limit).",
        section=RESTORE,
    ),
    "restore_tasks": _setting(
        "restore_tasks",
        title="Restore tasks",
        description="s3_export: restore the data files in this many parallel tasks.",
        section=RESTORE,
    ),
    "keep_scratch_table": _setting(
        "keep_scratch_table",
        title="Keep the scratch table",
        description="On: keep the restored scratch table for inspection (a later sweep deletes it).",
        section=RESTORE,
    ),
    "rto_target_seconds": _setting(
        "rto_target_seconds",
        title="RTO target (seconds)",
        description="Longest the restore and its validation may take.",
        section=PROOF,
    ),
    "rpo_target_seconds": _setting(
        "rpo_target_seconds",
        title="RPO target (seconds)",
        description="Oldest the backup may be at the drill's start.",
        section=PROOF,
    ),
    "sample_size": _setting(
        "sample_size",
        title="Sample size",
        description="Items deep-compared at random.",
        section=PROOF,
    ),
    "sample_seed": _setting(
        "sample_seed",
        title="Sample seed",
        description="Seed of the sample, to replay a drill's (new each drill otherwise).",
        section=PROOF,
    ),
    "sweep_max_age_hours": _param(
        DEFAULT_SWEEP_MAX_AGE_HOURS,
        **SWEEP_MAX_AGE_HOURS_SCHEMA,
        title="Sweep scratch tables older than (hours)",
        description="Scratch tables a drill provably made (its signed owner tag) are deleted before the drills:"
        " at once when their run is over, otherwise once older than this.",
        section=HOUSEKEEPING,
    ),
}


@task(trigger_rule="all_done", retries=0)
def drills_to_run() -> list[dict[str, Any]]:
    """One table run's request per planned spec, once the sweep is done whatever it did; none when the plan refused."""
    context = get_current_context()
    specs = context["ti"].xcom_pull(task_ids="plan_drills")
    if specs is None:
        raise AirflowFailException("plan_drills refused the request or did not finish: nothing was drilled")
    dag_run = context["dag_run"]
    run_type = getattr(dag_run.run_type, "value", dag_run.run_type)
    requested = {"run_type": run_type, "triggering_user": getattr(dag_run, "triggering_user_name", None)}
    return [
        {"trigger_run_id": f"{spec['table_name']}__{dag_run.run_id}", "conf": {"spec": spec, "requested": requested}}
        for spec in specs
    ]


with DAG(
    dag_id=DAG_ID,
    description="Prove nightly that DynamoDB tables can be restored from their backups",
    schedule=os.environ.get("DR_DRILL_SCHEDULE", "0 2 * * *"),
    max_active_runs=1,
    params=PARAMS,
    **BOTH_DAGS,
) as dag:
    # The request is read first: one the drill cannot carry out is refused before anything is
    # touched, without retries. Then housekeeping (frees the table quota), which never blocks the
    # drills (drills_to_run runs on all_done) and, being no leaf, never decides the run's state.
    plan = PlanDrillsOperator(task_id="plan_drills", plan_path=DEFAULT_PLAN_PATH)
    sweep = SweepScratchTablesOperator(task_id="sweep_scratch_tables", max_age_hours="{{ params.sweep_max_age_hours }}")
    requests = drills_to_run()
    plan >> sweep >> requests
    # One table run each, awaited in the triggerer (no worker slot held while it runs); a failed
    # drill fails its task and so this run. Not retried: a retry would find the run already started.
    TriggerDagRunOperator.partial(
        task_id="drill",
        trigger_dag_id=TABLE_DAG_ID,
        wait_for_completion=True,
        deferrable=True,
        poke_interval=10,
        allowed_states=["success"],
        failed_states=["failed"],
        fail_when_dag_is_paused=True,  # a paused table DAG would leave the drill waiting: say so at once
        retries=0,
        map_index_template="{{ task.conf.spec.table_name }}",
    ).expand_kwargs(requests)


TABLE_PARAMS = {
    "spec": Param(
        type="object",
        title="Drill spec",
        description=f"One table's drill as {DAG_ID}'s plan_drills resolved it. Trigger {DAG_ID} to drill a table.",
        required=["table_name", "drill_id", "run_id", "scratch_table"],
    ),
    "requested": Param(
        None,
        type=["null", "object"],
        title="Requested by",
        description=f"The run type and user of the {DAG_ID} run that asked for this drill.",
    ),
}
SPEC = "{{ params.spec }}"  # rendered as the dict itself (render_template_as_native_obj)

with DAG(
    dag_id=TABLE_DAG_ID,
    description=f"One table's drill, started by {DAG_ID}",
    schedule=None,
    max_active_runs=MAX_PARALLEL_TABLES,
    # Unpaused from the start: it never runs on its own, and a paused one would hold every drill.
    is_paused_upon_creation=False,
    params=TABLE_PARAMS,
    render_template_as_native_obj=True,
    **BOTH_DAGS,
) as table_dag:
    locate = LocateBackupOperator(task_id="locate", spec=SPEC)
    verify = VerifyBackupOperator(task_id="verify", spec=SPEC, located=locate.output)
    create = CreateScratchTableOperator(
        task_id="create_scratch_table", spec=SPEC, located=locate.output, verified=verify.output
    )
    shares = PlanRestoreOperator(task_id="plan_restore", spec=SPEC, verified=verify.output)
    parts = RestoreBackupOperator.partial(
        task_id="restore_part",
        spec=SPEC,
        located=locate.output,
        scratch=create.output,
        verified=verify.output,
        map_index_template="part {{ task.share.part }} of {{ task.share.of }}",
    ).expand(share=shares.output)
    restore = CombineRestoreOperator(
        task_id="restore",
        spec=SPEC,
        located=locate.output,
        shares=shares.output,
        part_task_id="restore_part",
        trigger_rule="all_done",
    )
    proven = {"spec": SPEC, "verified": verify.output, "restored": restore.output, "located": locate.output}
    scan_plan = PlanScanOperator(task_id="plan_scan", **proven)
    scans = ScanShareOperator.partial(
        task_id="scan_part", map_index_template="part {{ task.share.part }} of {{ task.share.of }}", **proven
    ).expand(share=scan_plan.output)
    validate = ValidateRestoreOperator(
        task_id="validate", shares=scan_plan.output, scan_task_id="scan_part", trigger_rule="all_done", **proven
    )
    drop = DropScratchTableOperator(
        task_id="drop_scratch_table", spec=SPEC, claim_task_ids=[create.task_id, "restore_part"]
    )
    record = RecordDrillOperator(
        task_id="record",
        spec=SPEC,
        step_task_ids={
            "locate": locate.task_id,
            "verify": verify.task_id,
            "create": create.task_id,
            "restore": restore.task_id,
            "validate": validate.task_id,
            "drop": drop.task_id,
        },
        mapped_steps={"restore_part": shares.task_id, "scan_part": scan_plan.task_id},
        trigger_rule="all_done",
    )
    verdict = DrillVerdictOperator(task_id="verdict", outcome=record.output, retries=0)
    verify >> create
    parts >> restore
    scans >> validate >> drop >> record >> verdict
    drop.as_teardown(setups=create)
