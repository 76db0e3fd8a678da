"""The locate step of a drill on the recovery side: both sides named, the copy lag measured, the copy chosen."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from dr_drill.aws.client_errors import error_code, error_message
from dr_drill.contracts import DrillSpec, LocatedBackup, RecoveryCopy
from dr_drill.core.plan.recovery import copy_lag
from dr_drill.core.plan.selection import Candidate, SelectionPolicy
from dr_drill.errors import BackupNotFound, DrillError

if TYPE_CHECKING:
    from airflow.sdk import Context

    from dr_drill.operators.base import DrillStepOperator

RECOVERY_XCOM_KEY = "recovery_copy"
log = logging.getLogger(__name__)


def _when(candidate: Candidate | None) -> str | None:
    return candidate.taken_at.isoformat() if candidate else None


class RecoveryLocator:
    """Locate the copy a recovery would restore, and push both sides' facts (``RecoveryCopy``) for the record.

    The facts are pushed before the copy is chosen, so that a drill with no copy still records
    both sides and the newest source backup that has none.
    """

    def __init__(self, step: DrillStepOperator, spec: DrillSpec) -> None:
        self.step = step
        self.spec = spec
        self.recovery = dict(spec.recovery or {})

    def _identity(self, connection: dict[str, Any]) -> tuple[str, str, str]:
        """(account, region, partition) of a side, as STS tells who its connection is."""
        sts = self.step.aws_client("sts", connection)
        arn = sts.get_caller_identity()["Arn"]
        return arn.split(":")[4], sts.meta.region_name, arn.split(":")[1]

    def _recovery_identity(self) -> tuple[str, str, str]:
        try:
            return self._identity(self.step.connection())
        except ClientError as err:
            if err.operation_name in ("AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"):
                raise BackupNotFound(
                    f"recovery connection {self.recovery['aws_conn_id']} cannot assume its role: "
                    f"{error_code(err)}: {error_message(err)}"
                ) from err
            raise

    def locate(self, context: Context, policy: SelectionPolicy, *, now: datetime) -> LocatedBackup:
        recovery_account, recovery_region, _ = self._recovery_identity()
        facts = RecoveryCopy(
            aws_conn_id=self.recovery["aws_conn_id"],
            recovery_region=recovery_region,
            recovery_account=recovery_account,
            source_aws_conn_id=self.step.source_connection()["aws_conn_id"],
            source_region=None,
            source_account=None,
            copy_lag_target_seconds=self.recovery["copy_lag_target_seconds"],
        )
        source: list[Candidate] | None = None
        try:
            source_account, source_region, partition = self._identity(self.step.source_connection())
            facts = dataclasses.replace(facts, source_account=source_account, source_region=source_region)
            table_arn = f"arn:{partition}:dynamodb:{source_region}:{source_account}:table/{self.spec.table_name}"
            self.recovery["source_table_arn"] = table_arn
            source = self.step.source_side_adapter().candidates(self.spec)
        except (ClientError, BotoCoreError, DrillError) as err:
            # The source side may be what is lost: the drill goes on, its copy lag unmeasured.
            reason = err.reason if isinstance(err, DrillError) else f"{type(err).__name__}: {err}"
            log.warning("The source side of %s could not be read: %s", self.spec.table_name, reason)
            facts = dataclasses.replace(facts, source_error=reason[:500])
        spec = dataclasses.replace(self.spec.on_recovery_side(), recovery=self.recovery)
        adapter = self.step.source_adapter()
        copies = adapter.candidates(spec)
        if source is not None:
            lag = copy_lag(source, copies, adapter.copy_identity)
            facts = dataclasses.replace(
                facts,
                newest_source_location=lag.newest_source.location if lag.newest_source else None,
                newest_source_backup_time=_when(lag.newest_source),
                newest_copy_location=lag.newest_copy.location if lag.newest_copy else None,
                newest_copy_backup_time=_when(lag.newest_copy),
                uncopied_location=lag.uncopied.location if lag.uncopied else None,
                uncopied_backup_time=_when(lag.uncopied),
                copy_lag_seconds=lag.lag_seconds,
            )
        context["ti"].xcom_push(key=RECOVERY_XCOM_KEY, value=facts.to_xcom())
        try:
            return adapter.locate(spec, policy, now=now)
        except BackupNotFound as err:
            if facts.uncopied_location:
                raise BackupNotFound(
                    f"{err.reason}; the newest source backup with no copy on the recovery side is "
                    f"{facts.uncopied_location} taken at {facts.uncopied_backup_time}"
                ) from err
            raise
