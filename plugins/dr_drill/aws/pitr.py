"""Point-in-time recovery: the table's restorable window (``DescribeContinuousBackups``). Read-only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.core.errors import BackupCorrupt, BackupNotFound
from dr_drill.core.selection import SelectionPolicy, choose_restore_time, parse_time


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def restore_window(ddb: Any, table_name: str) -> tuple[datetime, datetime]:
    """Return (earliest, latest) restorable time of ``table_name``.

    :raises BackupNotFound: when the table does not exist or point-in-time recovery is not enabled.
    """
    try:
        description = ddb.describe_continuous_backups(TableName=table_name)["ContinuousBackupsDescription"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("TableNotFoundException", "ResourceNotFoundException"):
            raise BackupNotFound(f"table {table_name} does not exist: no point-in-time window to restore from") from err
        raise
    pitr = description.get("PointInTimeRecoveryDescription", {})
    if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
        raise BackupNotFound(f"point-in-time recovery is not enabled for table {table_name}")
    return _utc(pitr["EarliestRestorableDateTime"]), _utc(pitr["LatestRestorableDateTime"])


def table_arn(ddb: Any, table_name: str) -> str | None:
    try:
        return ddb.describe_table(TableName=table_name)["Table"]["TableArn"]
    except ClientError:
        return None


def locate_restore_point(ddb: Any, table_name: str, policy: SelectionPolicy, *, seed_source: str) -> dict[str, Any]:
    """Return the point in time to restore, chosen by ``policy`` inside the table's window."""
    earliest, latest = restore_window(ddb, table_name)
    chosen, record = choose_restore_time(earliest, latest, policy, seed_source=seed_source)
    return {
        "location": f"pitr:{table_name}@{chosen.isoformat()}",
        "backup_time": chosen.isoformat(),
        "restore_time": chosen.isoformat(),
        "source_table_name": table_name,
        "source_table_arn": table_arn(ddb, table_name),
        "selection": record,
        "candidates_considered": 1,
    }


def verify_restore_point(ddb: Any, table_name: str, restore_time: str) -> dict[str, Any]:
    """Prove that the chosen time is still inside the window (it slides while the drill runs)."""
    earliest, latest = restore_window(ddb, table_name)
    chosen = parse_time(restore_time)
    if not earliest <= chosen <= latest:
        raise BackupCorrupt(
            f"restore time {chosen.isoformat()} has left the point-in-time window "
            f"{earliest.isoformat()} .. {latest.isoformat()}"
        )
    return {
        "backup_timestamp": chosen.isoformat(),
        "item_count": None,
        "checksum_verified": False,
        "restore_time": chosen.isoformat(),
        "window_start": earliest.isoformat(),
        "window_end": latest.isoformat(),
    }
