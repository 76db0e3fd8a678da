"""native_backup: DynamoDB on-demand backups (``ListBackups``, those AWS Backup made included).

Restored server-side by RestoreTableFromBackup into the scratch name. Never changes a backup.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.aws.client_errors import error_code
from dr_drill.aws.sources.base import SourceAdapter
from dr_drill.constants import BackupSource, RestoreMethod
from dr_drill.contracts import BackupRef, DrillSpec, LocatedBackup, ScratchClaim, VerifiedBackup
from dr_drill.core.plan.selection import Candidate, Selection, SelectionPolicy, select_backup
from dr_drill.core.sources.native_backup import backup_candidate, restore_from_backup_request
from dr_drill.core.times import as_utc
from dr_drill.errors import BackupCorrupt, BackupNotFound

_MISSING_CODES = frozenset(
    {"BackupNotFoundException", "TableNotFoundException", "ResourceNotFoundException", "ValidationException"}
)


def list_backup_summaries(ddb: Any, table_name: str, *, page_size: int | None = None) -> Iterator[dict[str, Any]]:
    """Yield every backup summary of ``table_name`` of every type (USER, SYSTEM, AWS_BACKUP), page by page."""
    config = {"PageSize": page_size} if page_size else {}
    paginator = ddb.get_paginator("list_backups")
    for page in paginator.paginate(TableName=table_name, BackupType="ALL", PaginationConfig=config):
        yield from page.get("BackupSummaries", ())


def select_native_backup(
    ddb: Any, table_name: str, policy: SelectionPolicy, *, now: datetime, seed_source: str, page_size: int | None = None
) -> Selection:
    """Choose an AVAILABLE backup of ``table_name`` by ``policy``, ordered by BackupCreationDateTime."""
    if policy.policy == "explicit":
        chosen = explicit_native_backup(ddb, policy.backup or "", table_name)
        return Selection(
            chosen=chosen, fallbacks=(), considered=1, record={**policy.to_dict(), "choice": chosen.location}
        )
    available, unavailable = [], 0
    for summary in list_backup_summaries(ddb, table_name, page_size=page_size):
        if summary.get("TableName") != table_name:
            continue
        if summary.get("BackupStatus") == "AVAILABLE":
            available.append(backup_candidate(summary))
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
        if error_code(err) in _MISSING_CODES:
            raise BackupNotFound(f"backup {backup_arn} does not exist") from err
        raise


def explicit_native_backup(ddb: Any, backup_arn: str, table_name: str) -> Candidate:
    """Return the backup the user named, refusing one of another table."""
    description = describe_backup(ddb, backup_arn)
    details, source = description["BackupDetails"], description.get("SourceTableDetails", {})
    if source.get("TableName") != table_name:
        raise BackupNotFound(f"backup {backup_arn} is of table {source.get('TableName')}, not {table_name}")
    return backup_candidate({**details, "TableName": source.get("TableName"), "TableArn": source.get("TableArn")})


def verify_native_backup(ddb: Any, backup_arn: str, table_name: str) -> VerifiedBackup:
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
    return VerifiedBackup(
        backup_timestamp=as_utc(details["BackupCreationDateTime"]).isoformat(),
        item_count=source.get("ItemCount"),
        item_count_exact=False,
        checksum_verified=False,  # AWS exposes no checksum of an on-demand backup
        size_bytes=details.get("BackupSizeBytes"),
        backup_arn=backup_arn,
        backup_type=details.get("BackupType"),
    )


class NativeBackupSource(SourceAdapter):
    """An on-demand backup, restored by RestoreTableFromBackup."""

    source = BackupSource.NATIVE_BACKUP

    @classmethod
    def restore_method(cls, spec: DrillSpec) -> RestoreMethod:
        return RestoreMethod.RESTORE_FROM_BACKUP

    def locate(self, spec: DrillSpec, policy: SelectionPolicy, *, now: datetime) -> LocatedBackup:
        selection = select_native_backup(
            self.clients.dynamodb(),
            spec.table_name,
            policy,
            now=now,
            seed_source=spec.drill_id,
            page_size=self.page_size,
        )
        return selection.located(self.source)

    def candidates(self, spec: DrillSpec) -> list[Candidate]:
        summaries = list_backup_summaries(self.clients.dynamodb(), spec.table_name, page_size=self.page_size)
        return [
            backup_candidate(summary)
            for summary in summaries
            if summary.get("TableName") == spec.table_name and summary.get("BackupStatus") == "AVAILABLE"
        ]

    def verify(self, backup: BackupRef, table_name: str) -> VerifiedBackup:
        return verify_native_backup(self.clients.dynamodb(), backup.backup_arn or "", table_name)

    def _start(self, ddb: Any, spec: DrillSpec, located: LocatedBackup) -> None:
        request = restore_from_backup_request(spec.scratch_table, located, include_indexes=spec.include_indexes)
        ddb.restore_table_from_backup(**request)

    def made_by_drill(self, table: dict[str, Any], spec: DrillSpec, claim: ScratchClaim) -> bool:
        backup_arn = claim.located.backup_arn if claim.located else None
        return bool(backup_arn) and (table.get("RestoreSummary") or {}).get("SourceBackupArn") == backup_arn
