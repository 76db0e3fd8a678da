"""native_backup on the recovery side: copies of the source table's backups in an AWS Backup vault there.

AWS Backup copy jobs (cross-region or cross-account, which for DynamoDB need AWS Backup's
advanced features) put recovery points of the source table's ARN in the recovery vault. They
are listed by ``ListRecoveryPointsByBackupVault`` (``ByResourceArn``) and restored by
``StartRestoreJob`` with the recovery role's ``restore_role_arn``; the job's id is what the
restore hands on, and its state is asked until it has made the scratch table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.aws.client_errors import error_code, error_message
from dr_drill.aws.server_side import table_restore_state
from dr_drill.aws.sources.native_backup import NativeBackupSource
from dr_drill.contracts import BackupRef, DrillSpec, LocatedBackup, ScratchClaim, VerifiedBackup
from dr_drill.core.plan.selection import Candidate, SelectionPolicy, select_backup
from dr_drill.core.times import as_utc
from dr_drill.errors import BackupCorrupt, BackupNotFound

_RUNNING_JOBS = frozenset({"CREATED", "PENDING", "RUNNING"})


def copy_candidate(point: dict[str, Any]) -> Candidate:
    """A recovery point of the vault as a candidate, timed by its ``CreationDate``."""
    return Candidate(
        location=point["RecoveryPointArn"],
        taken_at=as_utc(point["CreationDate"]),
        ref={
            "backup_arn": point["RecoveryPointArn"],
            "backup_type": "AWS_BACKUP",
            "source_table_arn": point.get("ResourceArn"),
            "source_table_name": point.get("ResourceName"),
        },
    )


def list_copies(backup: Any, vault: str, table_arn: str, *, page_size: int | None = None) -> list[dict[str, Any]]:
    """Return every recovery point of ``table_arn`` in ``vault``, whatever its status."""
    config = {"PageSize": page_size} if page_size else {}
    paginator = backup.get_paginator("list_recovery_points_by_backup_vault")
    points = []
    try:
        for page in paginator.paginate(BackupVaultName=vault, ByResourceArn=table_arn, PaginationConfig=config):
            points.extend(page.get("RecoveryPoints", ()))
    except ClientError as err:
        if error_code(err) in ("ResourceNotFoundException", "AccessDeniedException"):
            raise BackupNotFound(f"backup vault {vault}: {error_code(err)}: {error_message(err)}") from err
        raise
    return points


class BackupVaultCopySource(NativeBackupSource):
    """A copy of a native backup in the recovery side's AWS Backup vault, restored by StartRestoreJob."""

    @property
    def vault(self) -> str:
        return (self.recovery or {})["backup_vault"]

    def candidates(self, spec: DrillSpec) -> list[Candidate]:
        # The source table's ARN, as the locate step made it from the source side's account and region.
        table_arn = (spec.recovery or {}).get("source_table_arn") or ""
        points = list_copies(self.clients.backup(), self.vault, table_arn, page_size=self.page_size)
        return [copy_candidate(point) for point in points if point.get("Status") == "COMPLETED"]

    def locate(self, spec: DrillSpec, policy: SelectionPolicy, *, now: datetime) -> LocatedBackup:
        vault = self.vault
        if policy.policy == "explicit":
            chosen = copy_candidate(self._describe(vault, policy.backup or ""))
            return LocatedBackup(
                source=self.source,
                **chosen.backup_ref().to_xcom(),
                candidates_considered=1,
                selection={**policy.to_dict(), "choice": chosen.location},
            )
        selection = select_backup(
            self.candidates(spec),
            policy,
            now=now,
            seed_source=spec.drill_id,
            what=f"of table {spec.table_name}: no COMPLETED copy in backup vault {vault}",
        )
        return selection.located(self.source)

    def _describe(self, vault: str, point_arn: str) -> dict[str, Any]:
        try:
            return self.clients.backup().describe_recovery_point(BackupVaultName=vault, RecoveryPointArn=point_arn)
        except ClientError as err:
            if error_code(err) in ("ResourceNotFoundException", "InvalidParameterValueException"):
                raise BackupNotFound(f"recovery point {point_arn} is not in backup vault {vault}") from err
            raise

    def verify(self, backup: BackupRef, table_name: str) -> VerifiedBackup:
        """Prove what AWS Backup tells without restoring: the copy exists, is COMPLETED, and is of this table."""
        point = self._describe(self.vault, backup.backup_arn or "")
        if point.get("ResourceName") not in (None, table_name) or point.get("ResourceType") not in (None, "DynamoDB"):
            of = point.get("ResourceArn")
            raise BackupCorrupt(f"recovery point {backup.backup_arn} is of {of}, not {table_name}")
        if point.get("Status") != "COMPLETED":
            raise BackupCorrupt(f"recovery point {backup.backup_arn} is {point.get('Status')}, not COMPLETED")
        return VerifiedBackup(
            backup_timestamp=as_utc(point["CreationDate"]).isoformat(),
            item_count=None,  # AWS Backup does not count a table's items
            item_count_exact=False,
            checksum_verified=False,  # nor exposes a checksum
            size_bytes=point.get("BackupSizeInBytes"),
            backup_arn=backup.backup_arn,
            backup_type="AWS_BACKUP",
        )

    def _start(self, ddb: Any, spec: DrillSpec, located: LocatedBackup) -> str | None:
        answer = self.clients.backup().start_restore_job(
            RecoveryPointArn=located.backup_arn,
            Metadata={"TargetTableName": spec.scratch_table},
            IamRoleArn=(spec.recovery or {})["restore_role_arn"],
            ResourceType="DynamoDB",
            IdempotencyToken=spec.drill_id,  # a retried try does not start a second restore
        )
        return answer["RestoreJobId"]

    def restore_state(self, name: str, import_arn: str | None) -> dict[str, Any]:
        """The restore job's state until it is done, then the scratch table's (``import_arn``: the job's id)."""
        if import_arn:
            job = self.clients.backup().describe_restore_job(RestoreJobId=import_arn)
            if job["Status"] in _RUNNING_JOBS:
                return {"state": "running", "job_status": job["Status"]}
            if job["Status"] != "COMPLETED":
                reason = f"restore job {import_arn} {job['Status']}: {job.get('StatusMessage')}"
                return {"state": "failed", "reason": reason}
        return table_restore_state(self.clients.dynamodb(), name)

    def made_by_drill(self, table: dict[str, Any], spec: DrillSpec, claim: ScratchClaim) -> bool:
        point_arn = claim.located.backup_arn if claim.located else None
        return bool(point_arn) and (table.get("RestoreSummary") or {}).get("SourceBackupArn") == point_arn
