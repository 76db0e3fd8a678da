"""DynamoDB on-demand backups (``ListBackups``, those AWS Backup made included). Read-only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.core.errors import BackupCorrupt, BackupNotFound
from dr_drill.core.selection import Candidate, Selection, SelectionPolicy, select_backup

_MISSING_CODES = {
    "BackupNotFoundException",
    "TableNotFoundException",
    "ResourceNotFoundException",
    "ValidationException",
}


def list_backup_summaries(ddb: Any, table_name: str) -> Iterator[dict[str, Any]]:
    """Yield every backup summary of ``table_name`` of every type (USER, SYSTEM, AWS_BACKUP), page by page."""
    paginator = ddb.get_paginator("list_backups")
    for page in paginator.paginate(TableName=table_name, BackupType="ALL"):
        yield from page.get("BackupSummaries", ())


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _candidate(summary: dict[str, Any]) -> Candidate:
    return Candidate(
        location=summary["BackupArn"],
        taken_at=_utc(summary["BackupCreationDateTime"]),
        ref={
            "backup_arn": summary["BackupArn"],
            "backup_name": summary.get("BackupName"),
            "backup_type": summary.get("BackupType"),
            "source_table_name": summary.get("TableName"),
            "source_table_arn": summary.get("TableArn"),
        },
    )


def select_native_backup(
    ddb: Any, table_name: str, policy: SelectionPolicy, *, now: datetime, seed_source: str
) -> Selection:
    """Choose an AVAILABLE backup of ``table_name`` by ``policy``, ordered by BackupCreationDateTime."""
    if policy.policy == "explicit":
        chosen = explicit_native_backup(ddb, policy.backup, table_name)
        return Selection(
            chosen=chosen, fallbacks=(), considered=1, record={**policy.to_dict(), "choice": chosen.location}
        )
    available, unavailable = [], 0
    for summary in list_backup_summaries(ddb, table_name):
        if summary.get("TableName") != table_name:
            continue
        if summary.get("BackupStatus") == "AVAILABLE":
            available.append(_candidate(summary))
        else:
            unavailable += 1
    note = f" ({unavailable} not AVAILABLE)" if unavailable else ""
    selection = select_backup(
        available,
        policy,
        now=now,
        seed_source=seed_source,
        what=f"of table {table_name}: no AVAILABLE on-demand backup{note}",
    )
    return Selection(selection.chosen, selection.fallbacks, selection.considered + unavailable, selection.record)


def describe_backup(ddb: Any, backup_arn: str) -> dict[str, Any]:
    try:
        return ddb.describe_backup(BackupArn=backup_arn)["BackupDescription"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in _MISSING_CODES:
            raise BackupNotFound(f"backup {backup_arn} does not exist") from err
        raise


def explicit_native_backup(ddb: Any, backup_arn: str, table_name: str) -> Candidate:
    """Return the backup the user named, refusing one of another table."""
    description = describe_backup(ddb, backup_arn)
    details, source = description["BackupDetails"], description.get("SourceTableDetails", {})
    if source.get("TableName") != table_name:
        raise BackupNotFound(f"backup {backup_arn} is of table {source.get('TableName')}, not {table_name}")
    return _candidate({**details, "TableName": source.get("TableName"), "TableArn": source.get("TableArn")})


def verify_native_backup(ddb: Any, backup_arn: str, table_name: str) -> dict[str, Any]:
    """Prove what AWS can tell without restoring: the backup exists, is AVAILABLE and is of this table.

    ``item_count`` is the source table's ItemCount when the backup was taken, which AWS refreshes
    only about every six hours: it is reported, not treated as exact.
    """
    description = describe_backup(ddb, backup_arn)
    details, source = description["BackupDetails"], description.get("SourceTableDetails", {})
    if source.get("TableName") != table_name:
        raise BackupCorrupt(f"backup {backup_arn} is of table {source.get('TableName')}, not {table_name}")
    if details.get("BackupStatus") != "AVAILABLE":
        raise BackupCorrupt(f"backup {backup_arn} is {details.get('BackupStatus')}, not AVAILABLE")
    return {
        "backup_timestamp": _utc(details["BackupCreationDateTime"]).isoformat(),
        "item_count": source.get("ItemCount"),
        "item_count_exact": False,
        "checksum_verified": False,  # AWS exposes no checksum of an on-demand backup
        "size_bytes": details.get("BackupSizeBytes"),
        "backup_arn": backup_arn,
        "backup_type": details.get("BackupType"),
    }
