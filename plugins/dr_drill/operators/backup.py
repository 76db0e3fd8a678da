"""Locating and verifying the backup a drill restores."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from dr_drill.aws.s3_backups import locate_json_backup, open_backup
from dr_drill.core.json_backup import verify_json_backup
from dr_drill.core.selection import BackupRef
from dr_drill.operators.base import DrillStepOperator


def backup_ref(located: dict[str, Any]) -> BackupRef:
    return BackupRef(bucket=located["bucket"], key=located["key"], timestamp=None)


class LocateBackupOperator(DrillStepOperator):
    """Find the backup to drill: the explicit ``backup_file``, or the newest by the time in its name."""

    step = "locate"

    def run(self, context: Context) -> dict[str, Any]:
        spec = self.spec
        ref, considered = locate_json_backup(
            self.s3_client(), spec["backup_bucket"], spec["table_name"], spec["backup_file"]
        )
        self.log.info("Backup of %s: %s (%d candidates considered)", spec["table_name"], ref.location, considered)
        return {
            "source": spec["backup_source"],
            "bucket": ref.bucket,
            "key": ref.key,
            "location": ref.location,
            "name_timestamp": ref.timestamp.isoformat() if ref.timestamp else None,
            "candidates_considered": considered,
        }


class VerifyBackupOperator(DrillStepOperator):
    """Stream the backup once: structure, item count and the original checksum.

    :param located: what the locate step returned.
    """

    template_fields: Sequence[str] = ("spec", "located")
    step = "verify"

    def __init__(self, *, located: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.located = located

    def run(self, context: Context) -> dict[str, Any]:
        backup = open_backup(self.s3_client(), backup_ref(self.located))
        self.log.info("Verifying %s (%d bytes)", self.located["location"], backup.size_bytes)
        started = time.monotonic()
        with backup.body:
            verified = verify_json_backup(backup.body, self.spec["table_name"])
        self.log.info("Verified %d items, checksum matches, in %.1f s", verified.item_count, time.monotonic() - started)
        return {
            "backup_timestamp": verified.backup_timestamp,
            "item_count": verified.item_count,
            "checksum_verified": True,
            "size_bytes": backup.size_bytes,
            "etag": backup.etag,
        }
