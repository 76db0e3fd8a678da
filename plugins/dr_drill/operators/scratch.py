"""The scratch table's life: created (or its server-side restore started) as the setup, dropped as the teardown."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator, Context
from botocore.exceptions import BotoCoreError, ClientError

from dr_drill.aws.scratch_tables import (
    _tags,
    create_scratch_table,
    delete_scratch_table,
    describe_table,
    scratch_definition,
    sweep_stale_scratch_tables,
)
from dr_drill.aws.server_side_restore import (
    claim_restored_table,
    find_drill_import,
    resume_or_start_import,
    start_server_side_restore,
)
from dr_drill.core.errors import UnsafeTarget
from dr_drill.core.restore import BATCH_WRITE, IMPORT_TABLE, SERVER_SIDE_METHODS, drill_restore_method
from dr_drill.core.scratch import SCRATCH_TAG, index_names
from dr_drill.operators.base import DrillStepOperator, now
from dr_drill.operators.settings import read_settings

SCRATCH_CLAIM_XCOM_KEY = "scratch_claim"
_ACTIVE_WAIT = {"Delay": 10, "MaxAttempts": 360}  # the teardown waits up to an hour for a restore to settle


def _table_indexes(table: dict[str, Any] | None) -> list[str]:
    return index_names(table or {})


class CreateScratchTableOperator(DrillStepOperator):
    """Create the new, empty scratch table, or start the server-side restore into its name (the setup task).

    Streamed restores get a table with the source's keys and indexes (the plan's
    ``key_schema`` when the source is gone). Server-side restores let DynamoDB create the
    table from the backup itself; the restore step waits for it and tags it.

    :param located: what the locate step returned.
    """

    template_fields: Sequence[str] = ("spec", "located")
    step = "restore"

    def __init__(self, *, located: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.located = located

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.spec
        located = self.located or {"source": spec["backup_source"]}
        method = drill_restore_method(spec, located)
        ddb = self.dynamodb_client()
        started_at = now()
        # What the teardown needs to recognise this drill's table even if this task dies half way.
        claim = {"method": method, "located": located}
        context["ti"].xcom_push(key=SCRATCH_CLAIM_XCOM_KEY, value=claim)
        definition = None
        if method in (BATCH_WRITE, IMPORT_TABLE):
            definition = scratch_definition(
                ddb,
                spec["table_name"],
                plan_key_schema=spec.get("key_schema"),
                include_indexes=spec.get("include_indexes", True),
            )
        result = {
            "name": spec["scratch_table"],
            "method": method,
            "started_at": started_at.isoformat(),
            "key_schema": definition["KeySchema"] if definition else None,
            "attribute_definitions": definition["AttributeDefinitions"] if definition else None,
            "indexes": index_names(definition or {}),
        }
        if method == BATCH_WRITE:
            self.log.info("Creating scratch table %s for %s", spec["scratch_table"], spec["table_name"])
            table = create_scratch_table(
                ddb,
                spec["scratch_table"],
                source_table=spec["table_name"],
                schema=definition,
                prefix=spec["scratch_prefix"],
                run_id=spec["run_id"],
            )
            return {**result, "created_at": now().isoformat(), "indexes": _table_indexes(table)}
        self.log.info("Starting %s of %s into %s", method, located.get("location"), spec["scratch_table"])
        if method == IMPORT_TABLE:
            # An import an earlier try started (same client token) is resumed, not deleted and repeated.
            started = resume_or_start_import(
                ddb,
                name=spec["scratch_table"],
                located=located,
                definition=definition,
                prefix=spec["scratch_prefix"],
                run_id=spec["run_id"],
                source_table=spec["table_name"],
            )
        else:
            # A table left by an earlier try of this run is removed first (guarded as in the teardown).
            remove_scratch_table(ddb, spec, claim, log=self.log)
            started = start_server_side_restore(
                ddb,
                method=method,
                name=spec["scratch_table"],
                located=located,
                include_indexes=spec.get("include_indexes", True),
                definition=definition,
            )
        context["ti"].xcom_push(key=SCRATCH_CLAIM_XCOM_KEY, value={**claim, **started})
        return {**result, **started, "created_at": now().isoformat()}


def remove_scratch_table(ddb: Any, spec: dict[str, Any], claim: dict[str, Any] | None, *, log: Any) -> bool:
    """Delete this run's scratch table; an untagged one only if a server-side restore of this drill made it.

    A server-side restore's table is untagged until it is ACTIVE: wait for that, tag it
    (the claim checks DynamoDB's own record of where it came from), then delete it guarded.
    """
    name = spec["scratch_table"]
    table = describe_table(ddb, name)
    if table is None:
        return False
    tags = _tags(ddb, table["TableArn"])
    if SCRATCH_TAG not in tags and claim and claim.get("method") in SERVER_SIDE_METHODS:
        import_arn = claim.get("import_arn")
        if claim["method"] == IMPORT_TABLE and not import_arn:
            # The setup died before saving the import's ARN: find it before waiting on the table.
            import_arn = find_drill_import(
                ddb,
                table,
                located=claim.get("located") or {},
                prefix=spec["scratch_prefix"],
                run_id=spec["run_id"],
                source_table=spec["table_name"],
            )
            if import_arn is None:
                raise UnsafeTarget(
                    f"refusing to delete {name}: it is untagged and no import of this drill's export created it"
                )
        log.info("Scratch table %s is a server-side restore not yet tagged: waiting for it to be ACTIVE", name)
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=_ACTIVE_WAIT)
        claim_restored_table(
            ddb,
            name,
            prefix=spec["scratch_prefix"],
            run_id=spec["run_id"],
            source_table=spec["table_name"],
            method=claim["method"],
            located=claim.get("located") or {},
            import_arn=import_arn,
        )
    return delete_scratch_table(ddb, name, prefix=spec["scratch_prefix"], run_id=spec["run_id"])


class DropScratchTableOperator(DrillStepOperator):
    """Delete the scratch table (the teardown task), unless the drill keeps it for inspection.

    :param setup_task_id: the setup task, whose claim says how the table was made.
    """

    step = "restore"

    def __init__(self, *, setup_task_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.setup_task_id = setup_task_id

    def _claim(self, context: Context) -> dict[str, Any] | None:
        if not self.setup_task_id:
            return None
        ti = context["ti"]
        return ti.xcom_pull(task_ids=self.setup_task_id, key=SCRATCH_CLAIM_XCOM_KEY, map_indexes=ti.map_index)

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.spec
        ddb = self.dynamodb_client()
        indexes = _table_indexes(describe_table(ddb, spec["scratch_table"]))
        if spec["keep_scratch_table"]:
            self.log.info("Keeping scratch table %s as keep_scratch_table asks", spec["scratch_table"])
            return {"deleted": False, "kept": True, "indexes": indexes}
        deleted = remove_scratch_table(ddb, spec, self._claim(context), log=self.log)
        self.log.info("Scratch table %s %s", spec["scratch_table"], "deleted" if deleted else "did not exist")
        return {"deleted": deleted, "kept": False, "deleted_at": now().isoformat(), "indexes": indexes}


class SweepScratchTablesOperator(BaseOperator):
    """Delete scratch tables left by crashed runs: name prefix AND scratch tag, older than ``max_age_hours``.

    Housekeeping, not part of any drill: an error is logged and the drills go on.

    :param max_age_hours: minimum age of a scratch table to delete (templated).
    :param aws_conn_id: the Airflow connection to AWS.
    """

    template_fields: Sequence[str] = ("max_age_hours",)

    def __init__(self, *, max_age_hours: int | str, aws_conn_id: str = "aws_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_age_hours = max_age_hours
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        max_age = timedelta(hours=int(self.max_age_hours))
        prefix = read_settings().scratch_prefix
        try:
            ddb = AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type="dynamodb").conn
            deleted = sweep_stale_scratch_tables(ddb, prefix=prefix, max_age=max_age, now=now())
        except (ClientError, BotoCoreError) as err:
            self.log.error("Sweeping stale scratch tables failed: %s: %s", type(err).__name__, err)
            return {"deleted": [], "error": f"{type(err).__name__}: {err}"[:500]}
        self.log.info(
            "Deleted %d scratch tables older than %s: %s", len(deleted), max_age, ", ".join(deleted) or "none"
        )
        return {"deleted": deleted, "error": None}
