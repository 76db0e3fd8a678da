"""The scratch table's life: made ready as the setup, dropped as the teardown, swept when runs crashed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from typing import Any, NoReturn

from airflow.sdk import BaseOperator, Context
from airflow.sdk.api.client import ServerResponseError
from airflow.sdk.exceptions import AirflowRuntimeError
from botocore.exceptions import BotoCoreError, ClientError

from dr_drill.aws.scratch_tables import (
    create_scratch_table,
    describe_table,
    scratch_definition,
    sweep_scratch_tables,
)
from dr_drill.aws.server_side import remove_scratch_table, table_restore_state
from dr_drill.aws.sources import adapter_class
from dr_drill.constants import Step
from dr_drill.contracts import DroppedScratch, LocatedBackup, ScratchClaim, ScratchTable, VerifiedBackup
from dr_drill.core.restore.scratch import index_names, warm_throughput_plan
from dr_drill.errors import DrillError, InvalidDrillRequest
from dr_drill.operators.base import AwsStepMixin, DrillStepOperator, now
from dr_drill.operators.plan import SWEEP_SIDES_XCOM_KEY
from dr_drill.operators.settings import ownership_key, read_settings
from dr_drill.triggers.server_side_restore import ScratchTableSettledTrigger

SCRATCH_CLAIM_XCOM_KEY = "scratch_claim"
log = logging.getLogger(__name__)


class CreateScratchTableOperator(DrillStepOperator):
    """Make the scratch table ready for the restore (the setup task); returns a ``ScratchTable``.

    A streamed restore gets a new, empty table with the source's keys and indexes (the plan's
    ``key_schema`` when the source is gone). A server-side restore makes its table itself, in
    the restore step; here only its schema (ImportTable needs one) and its claim are settled.
    Either way the claim is pushed first, so that the teardown recognises this drill's table
    even if a later task dies half way.

    A new table is created warm (DynamoDB's ``WarmThroughput``) when the restore must write faster
    than a new on-demand table serves at once: sized from the verified backup's items and size
    and the RTO target, up to the plan's ``max_warm_write_units``.

    :param located: what the locate step returned.
    :param verified: what the verify step returned (the backup's item count and size).
    """

    template_fields: Sequence[str] = ("spec", "located", "verified")
    step = Step.CREATE_SCRATCH_TABLE

    def __init__(
        self, *, located: dict[str, Any] | None = None, verified: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.located = located
        self.verified = verified

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.drill
        located = LocatedBackup.from_xcom(self.located) if self.located else None
        method = adapter_class(spec.backup_source).restore_method(spec)
        key = ownership_key()  # refused here, before any table exists, when the secret is missing
        started_at = now()
        claim = ScratchClaim(method=method, located=located)
        context["ti"].xcom_push(key=SCRATCH_CLAIM_XCOM_KEY, value=claim.to_xcom())
        ddb = self.dynamodb_client()
        definition = None
        if method.needs_schema:
            definition = scratch_definition(
                self.source_table_client(ddb),
                spec.table_name,
                plan_key_schema=spec.key_schema,
                include_indexes=spec.include_indexes,
            )
        if method.server_side:
            # The restore step starts it, and DynamoDB makes the table.
            return ScratchTable(
                name=spec.scratch_table,
                method=method,
                started_at=started_at.isoformat(),
                definition=definition,
                indexes=tuple(index_names(definition or {})),
            ).to_xcom()
        verified = VerifiedBackup.from_xcom(self.verified) if self.verified else None
        warm = warm_throughput_plan(
            item_count=verified.item_count if verified else None,
            size_bytes=verified.size_bytes if verified else None,
            rto_target_seconds=spec.rto_target_seconds,
            max_write_units=spec.max_warm_write_units,
        )
        self.log.info(
            "Creating scratch table %s for %s; warm throughput asked: %s",
            spec.scratch_table,
            spec.table_name,
            warm["requested"] or "none",
        )
        table = create_scratch_table(
            ddb,
            spec.scratch_table,
            source_table=spec.table_name,
            schema=definition or {},
            prefix=spec.scratch_prefix,
            dag_id=spec.dag_id,
            run_id=spec.run_id,
            key=key,
            kept=spec.keep_scratch_table,
            warm_throughput=warm["requested"],
        )
        return ScratchTable(
            name=spec.scratch_table,
            method=method,
            started_at=started_at.isoformat(),
            definition=definition,
            indexes=tuple(index_names(table)),
            created_at=now().isoformat(),
            warm_throughput={**warm, "reported": table.get("WarmThroughput")},
        ).to_xcom()


class DropScratchTableOperator(DrillStepOperator):
    """Delete the scratch table (the teardown task), unless the drill keeps it for inspection.

    Returns a ``DroppedScratch``.

    :param claim_task_ids: the tasks whose claims say how the table was made (the setup, and the
        restore task that starts a server-side restore); the last claim found wins.
    """

    step = Step.DROP_SCRATCH_TABLE

    def __init__(
        self,
        *,
        claim_task_ids: Sequence[str] = (),
        settle_timeout: timedelta = timedelta(hours=6),
        check_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.claim_task_ids = list(claim_task_ids)
        self.settle_timeout = settle_timeout
        self.check_interval = check_interval

    def _claim(self, context: Context) -> ScratchClaim | None:
        # Every instance's claim, a mapped task's too (the server-side restore is its one instance).
        claims = context["ti"].xcom_pull(task_ids=self.claim_task_ids, key=SCRATCH_CLAIM_XCOM_KEY)
        found = [claim for claim in claims or () if claim]
        return ScratchClaim.from_xcom(found[-1]) if found else None

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.drill
        adapter = self.source_adapter()
        ddb = adapter.clients.dynamodb()  # one client, for the teardown and the adapter's provenance check
        table = describe_table(ddb, spec.scratch_table)
        if table is not None and table_restore_state(ddb, spec.scratch_table)["state"] != "done":
            self._defer_until_settled()  # a server-side restore still filling it: DynamoDB refuses the delete
        indexes = tuple(index_names(table or {}))
        if spec.keep_scratch_table:
            self.log.info("Keeping scratch table %s as keep_scratch_table asks", spec.scratch_table)
            return DroppedScratch(deleted=False, kept=True, indexes=indexes).to_xcom()
        claim = self._claim(context)
        made_by_drill = adapter.made_by_drill_of(spec, claim) if claim else None
        # DeleteTable accepted is enough: nothing waits in a worker slot for DynamoDB to finish deleting.
        deleted = remove_scratch_table(ddb, spec, made_by_drill=made_by_drill, key=ownership_key(), wait=False)
        self.log.info("Scratch table %s %s", spec.scratch_table, "deleted" if deleted else "did not exist")
        return DroppedScratch(deleted=deleted, kept=False, deleted_at=now().isoformat(), indexes=indexes).to_xcom()

    def _defer_until_settled(self) -> NoReturn:
        deadline = now() + self.settle_timeout
        self.log.info("Waiting in the triggerer for %s to be deletable (until %s)", self.drill.scratch_table, deadline)
        self.defer(
            trigger=ScratchTableSettledTrigger(
                table_name=self.drill.scratch_table,
                deadline=deadline.isoformat(),
                poll_seconds=self.check_interval,
                **self.connection(),  # the recovery side's, for a drill there
            ),
            method_name="execute_complete",
            timeout=self.settle_timeout + timedelta(minutes=10),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume once the table settled (or did not): delete it now, or fail saying it is left to the sweep."""
        return self.reporting_failures(context, lambda: self._after_settling(context, event))

    def _after_settling(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event["state"] != "done":
            reason = event.get("reason") or f"it was still not deletable at {event.get('deadline')}"
            raise DrillError(f"scratch table {self.drill.scratch_table} was not deleted: {reason}")
        return self.run(context)


class SweepScratchTablesOperator(AwsStepMixin, BaseOperator):
    """Delete the scratch tables drills left behind; returns ``{"deleted": [...], "error": ...}``.

    Only tables whose owner tag proves a drill made them are touched (signed with the
    ownership secret; hand-made scratch tags prove nothing). Of those, a table whose run is
    over by Airflow's own records is deleted whatever its age (unless it was kept on purpose),
    and any other once it is older than ``max_age_hours``.

    Housekeeping, not part of any drill: an error is logged and the drills go on.

    :param max_age_hours: the age after which an owned table is deleted whatever its run's state (templated).
    """

    template_fields: Sequence[str] = ("max_age_hours",)

    def __init__(
        self,
        *,
        max_age_hours: int | str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_age_hours = max_age_hours

    def execute(self, context: Context) -> dict[str, Any]:
        max_age = timedelta(hours=int(self.max_age_hours))
        prefix = read_settings().scratch_prefix
        run_state = partial(dag_run_state, context["ti"])
        # Every side the plan's drills make scratch tables on (plan_drills lists them), this one first.
        sides = context["ti"].xcom_pull(task_ids="plan_drills", key=SWEEP_SIDES_XCOM_KEY) or [None]
        try:
            key = ownership_key()
        except InvalidDrillRequest as err:
            self.log.error("Sweeping scratch tables skipped: %s", err.reason)
            return {"deleted": [], "error": err.reason[:500]}
        deleted, errors = [], []
        for side in sides:
            try:
                deleted += sweep_scratch_tables(
                    self.dynamodb_client(connection=side),
                    prefix=prefix,
                    key=key,
                    max_age=max_age,
                    now=now(),
                    run_state=run_state,
                )
            except (ClientError, BotoCoreError) as err:
                self.log.error("Sweeping scratch tables via %s failed: %s: %s", side, type(err).__name__, err)
                errors.append(f"{(side or {}).get('aws_conn_id', self.aws_conn_id)}: {type(err).__name__}: {err}")
        self.log.info("Deleted %d scratch tables: %s", len(deleted), ", ".join(deleted) or "none")
        return {"deleted": deleted, "error": "; ".join(errors)[:500] or None}


def dag_run_state(ti: Any, dag_id: str, run_id: str) -> str | None:
    """The state of a DAG run in Airflow's records, through the Task SDK; None when it has none.

    Tasks of Airflow 3 cannot read the metadata database: the task instance asks the API server.
    """
    try:
        state = ti.get_dagrun_state(dag_id, run_id)
    except (AirflowRuntimeError, ServerResponseError) as err:
        # A 404 for a run Airflow never had or has forgotten (a worker's supervisor hands it on as
        # AirflowRuntimeError, dag.test()'s in-process one as the client's error): the age rule decides.
        log.info("No record of run %s of %s in Airflow: %s", run_id, dag_id, err)
        return None
    return getattr(state, "value", state)  # DagRunState's str() is its name, not its value
