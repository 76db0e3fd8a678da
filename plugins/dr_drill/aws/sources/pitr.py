"""pitr: point-in-time recovery of the source table (``DescribeContinuousBackups``).

Restored server-side by RestoreTableToPointInTime into the scratch name; the source is only read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.aws.client_errors import error_code
from dr_drill.aws.scratch_tables import describe_table
from dr_drill.aws.sources.base import SourceAdapter
from dr_drill.constants import BackupSource, RestoreMethod
from dr_drill.contracts import BackupRef, DrillSpec, LocatedBackup, ScratchClaim, VerifiedBackup
from dr_drill.core.plan.selection import SelectionPolicy
from dr_drill.core.sources.pitr import choose_restore_time, restore_to_point_in_time_request
from dr_drill.core.times import as_utc, parse_time
from dr_drill.errors import BackupCorrupt, BackupNotFound


def restore_window(ddb: Any, table_name: str) -> tuple[datetime, datetime]:
    """Return (earliest, latest) restorable time of ``table_name``.

    :raises BackupNotFound: when the table does not exist or point-in-time recovery is not enabled.
    """
    try:
        description = ddb.describe_continuous_backups(TableName=table_name)["ContinuousBackupsDescription"]
    except ClientError as err:
        if error_code(err) in ("TableNotFoundException", "ResourceNotFoundException"):
            raise BackupNotFound(f"table {table_name} does not exist: no point-in-time window to restore from") from err
        raise
    pitr = description.get("PointInTimeRecoveryDescription", {})
    if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
        raise BackupNotFound(f"point-in-time recovery is not enabled for table {table_name}")
    return as_utc(pitr["EarliestRestorableDateTime"]), as_utc(pitr["LatestRestorableDateTime"])


def locate_restore_point(ddb: Any, table_name: str, policy: SelectionPolicy, *, seed_source: str) -> LocatedBackup:
    """Return the point in time to restore, chosen by ``policy`` inside the table's window."""
    earliest, latest = restore_window(ddb, table_name)
    chosen, record = choose_restore_time(earliest, latest, policy, seed_source=seed_source)
    return LocatedBackup(
        source=BackupSource.PITR,
        location=f"pitr:{table_name}@{chosen.isoformat()}",
        backup_time=chosen.isoformat(),
        restore_time=chosen.isoformat(),
        source_table_name=table_name,
        source_table_arn=_table_arn(ddb, table_name),
        selection=record,
        candidates_considered=1,
    )


def _table_arn(ddb: Any, table_name: str) -> str | None:
    # Only a better name for the restore's source: a table that cannot be described leaves it to the name.
    try:
        table = describe_table(ddb, table_name)
    except ClientError:
        return None
    return table["TableArn"] if table else None


def verify_restore_point(ddb: Any, table_name: str, restore_time: str) -> VerifiedBackup:
    """Prove that the chosen time is still inside the window (it slides while the drill runs)."""
    earliest, latest = restore_window(ddb, table_name)
    chosen = parse_time(restore_time)
    if not earliest <= chosen <= latest:
        raise BackupCorrupt(
            f"restore time {chosen.isoformat()} has left the point-in-time window "
            f"{earliest.isoformat()} .. {latest.isoformat()}"
        )
    return VerifiedBackup(
        backup_timestamp=chosen.isoformat(),
        item_count=None,
        checksum_verified=False,
        restore_time=chosen.isoformat(),
        window_start=earliest.isoformat(),
        window_end=latest.isoformat(),
    )


class PitrSource(SourceAdapter):
    """A second of the source table's point-in-time window, restored by RestoreTableToPointInTime."""

    source = BackupSource.PITR

    @classmethod
    def restore_method(cls, spec: DrillSpec) -> RestoreMethod:
        return RestoreMethod.RESTORE_TO_POINT_IN_TIME

    def locate(self, spec: DrillSpec, policy: SelectionPolicy, *, now: datetime) -> LocatedBackup:
        return locate_restore_point(self.clients.dynamodb(), spec.table_name, policy, seed_source=spec.drill_id)

    def verify(self, backup: BackupRef, table_name: str) -> VerifiedBackup:
        return verify_restore_point(self.clients.dynamodb(), table_name, backup.restore_time or "")

    def _start(self, ddb: Any, spec: DrillSpec, located: LocatedBackup) -> None:
        request = restore_to_point_in_time_request(spec.scratch_table, located, include_indexes=spec.include_indexes)
        ddb.restore_table_to_point_in_time(**request)

    def made_by_drill(self, table: dict[str, Any], spec: DrillSpec, claim: ScratchClaim) -> bool:
        located = claim.located
        if located is None:
            return False
        source_arn = (table.get("RestoreSummary") or {}).get("SourceTableArn") or ""
        if located.source_table_arn:
            return source_arn == located.source_table_arn
        return source_arn.endswith(f":table/{located.source_table_name}")
