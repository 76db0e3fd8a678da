"""Which backup a drill uses, chosen by the backup's own time, never by LastModified."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from dr_drill.core.errors import BackupNotFound

JSON_BACKUP_FOLDER = "dynamodb-backups/"
_TIMESTAMP_FORMAT = "%Y-%m-%d-%H-%M-%S"


@dataclass(frozen=True)
class BackupRef:
    """One backup object of the original JSON format."""

    bucket: str
    key: str
    timestamp: datetime | None  # from the name; None for an explicit key outside the convention

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def json_backup_prefix(table_name: str) -> str:
    """Return the S3 prefix under which the original function wrote ``table_name``'s backups."""
    return f"{JSON_BACKUP_FOLDER}{table_name}-backup-"


def parse_json_backup_key(key: str, table_name: str) -> datetime | None:
    """Return the timestamp in a backup key of ``table_name``, or None if the key is not one.

    The match is exact, so table ``app`` never picks up a backup of table ``app-backup``.
    """
    pattern = rf"{re.escape(json_backup_prefix(table_name))}(\d{{4}}(?:-\d{{2}}){{5}})\.json"
    match = re.fullmatch(pattern, key)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), _TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def choose_latest_backup(bucket: str, keys: Iterable[str], table_name: str) -> tuple[BackupRef, int]:
    """Return the newest backup of ``table_name`` among ``keys`` and how many backups were considered.

    :raises BackupNotFound: when no key is a backup of the table.
    """
    latest: BackupRef | None = None
    considered = 0
    for key in keys:
        timestamp = parse_json_backup_key(key, table_name)
        if timestamp is None:
            continue
        considered += 1
        if latest is None or timestamp > latest.timestamp:
            latest = BackupRef(bucket=bucket, key=key, timestamp=timestamp)
    if latest is None:
        raise BackupNotFound(f"no backup of table {table_name} under s3://{bucket}/{json_backup_prefix(table_name)}*")
    return latest, considered


def explicit_backup(bucket: str, key: str, table_name: str) -> BackupRef:
    """Return the backup the user named; its time comes from its name when it follows the convention."""
    return BackupRef(bucket=bucket, key=key, timestamp=parse_json_backup_key(key, table_name))
