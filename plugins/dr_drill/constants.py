"""The names a drill is built from: backup sources, restore methods and steps."""

from __future__ import annotations

from enum import StrEnum


class BackupSource(StrEnum):
    """Where a drill's backup comes from (the plan's ``backup_source``)."""

    S3_JSON = "s3_json"
    S3_EXPORT = "s3_export"
    NATIVE_BACKUP = "native_backup"
    PITR = "pitr"

    @property
    def in_s3(self) -> bool:
        """The backup is objects in an S3 bucket (``backup_bucket``), not a DynamoDB resource."""
        return self in (BackupSource.S3_JSON, BackupSource.S3_EXPORT)


class RestoreMethod(StrEnum):
    """How the backup gets into the scratch table."""

    BATCH_WRITE = "batch_write"
    RESTORE_FROM_BACKUP = "restore_from_backup"
    RESTORE_TO_POINT_IN_TIME = "restore_to_point_in_time"
    IMPORT_TABLE = "import_table"

    @property
    def server_side(self) -> bool:
        """DynamoDB itself creates and fills the table: the drill only starts and awaits it."""
        return self is not RestoreMethod.BATCH_WRITE

    @property
    def needs_schema(self) -> bool:
        """The drill gives the table's keys and indexes (from the source, or the plan's key_schema)."""
        return self in (RestoreMethod.BATCH_WRITE, RestoreMethod.IMPORT_TABLE)


class Step(StrEnum):
    """A drill's steps, as failures and the evidence name them."""

    LOCATE = "locate"
    VERIFY = "verify"
    CREATE_SCRATCH_TABLE = "create_scratch_table"
    RESTORE = "restore"
    VALIDATE = "validate"
    DROP_SCRATCH_TABLE = "drop_scratch_table"
    RECORD = "record"


# The most concurrent BatchWriteItem calls of one restore task: a cap, not a setting to tune.
# The restore finds how many the endpoint sustains by itself (core/restore/concurrency.py);
# 64 covers a cross-region round trip (benchmarks/README.md). The plan's restore_workers lowers it.
DEFAULT_RESTORE_WORKERS = 64
# Attempts per request, botocore's standard retry mode (throttling, 5xx, dropped connections),
# and per batch for the items DynamoDB leaves unprocessed: one policy for every call a drill makes.
MAX_ATTEMPTS = 10
