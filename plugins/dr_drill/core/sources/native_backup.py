"""DynamoDB on-demand backups (those AWS Backup made included): candidates and the restore request."""

from __future__ import annotations

from typing import Any

from dr_drill.contracts import BackupRef
from dr_drill.core.plan.selection import Candidate
from dr_drill.core.restore.scratch import index_overrides
from dr_drill.core.times import as_utc


def backup_candidate(summary: dict[str, Any]) -> Candidate:
    """Return a ``ListBackups`` summary (or DescribeBackup's details with the table) as a candidate."""
    return Candidate(
        location=summary["BackupArn"],
        taken_at=as_utc(summary["BackupCreationDateTime"]),
        ref={
            "backup_arn": summary["BackupArn"],
            "backup_name": summary.get("BackupName"),
            "backup_type": summary.get("BackupType"),
            "source_table_name": summary.get("TableName"),
            "source_table_arn": summary.get("TableArn"),
        },
    )


def restore_from_backup_request(name: str, backup: BackupRef, *, include_indexes: bool) -> dict[str, Any]:
    """RestoreTableFromBackup of the chosen backup into the scratch name, on demand."""
    return {
        "TargetTableName": name,
        "BackupArn": backup.backup_arn,
        "BillingModeOverride": "PAY_PER_REQUEST",
        **index_overrides(include_indexes),
    }
