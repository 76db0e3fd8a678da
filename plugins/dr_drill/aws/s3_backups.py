"""Finding and reading backup objects in S3. Read-only: a drill never changes a backup."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.core.errors import BackupNotFound
from dr_drill.core.json_backup import verify_json_backup
from dr_drill.core.selection import (
    BackupRef,
    Selection,
    SelectionPolicy,
    choose_latest_backup,
    explicit_backup,
    json_backup_candidates,
    json_backup_prefix,
    select_backup,
)

_NOT_FOUND_CODES = {"NoSuchBucket", "NoSuchKey", "404", "NotFound"}
_DENIED_CODES = {"AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId"}


def s3_error(err: ClientError, what: str) -> BackupNotFound | None:
    """Return the named error for a missing or forbidden bucket or object, None for anything else."""
    error = err.response.get("Error", {})
    code = error.get("Code", "")
    if code in _DENIED_CODES:
        return BackupNotFound(f"{what}: access denied ({code}); the drill's role needs s3:ListBucket and s3:GetObject")
    if code in _NOT_FOUND_CODES:
        return BackupNotFound(f"{what}: {code} ({error.get('Message', '')})")
    return None


def list_keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    """Yield every key under ``prefix``, following pagination to the end."""
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for entry in page.get("Contents", ()):
                yield entry["Key"]
    except ClientError as err:
        named = s3_error(err, f"cannot list s3://{bucket}/{prefix}")
        if named:
            raise named from err
        raise


def read_object(s3: Any, bucket: str, key: str) -> bytes:
    """Return a small object's bytes (manifests, checksum files)."""
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        named = s3_error(err, f"cannot read s3://{bucket}/{key}")
        if named:
            raise named from err
        raise


def locate_json_backup(s3: Any, bucket: str, table_name: str, backup_file: str | None) -> tuple[BackupRef, int]:
    """Return the explicit backup, or the newest one by the timestamp in its name, and how many were seen."""
    if backup_file:
        return explicit_backup(bucket, backup_file, table_name), 1
    return choose_latest_backup(bucket, list_keys(s3, bucket, json_backup_prefix(table_name)), table_name)


def select_json_backup(
    s3: Any, bucket: str, table_name: str, policy: SelectionPolicy, *, now: datetime, seed_source: str
) -> Selection:
    """Choose a backup of ``table_name`` by ``policy`` among every page of the listing."""
    keys = list_keys(s3, bucket, json_backup_prefix(table_name))
    return select_backup(
        json_backup_candidates(bucket, keys, table_name),
        policy,
        now=now,
        seed_source=seed_source,
        what=f"of table {table_name} under s3://{bucket}/{json_backup_prefix(table_name)}*",
    )


@dataclass(frozen=True)
class BackupObject:
    """An open backup object: a stream plus what S3 says about it."""

    body: Any
    size_bytes: int
    etag: str
    version_id: str | None = None


def open_backup(s3: Any, ref: BackupRef) -> BackupObject:
    """Open the backup for streaming; nothing is read into memory yet."""
    try:
        response = s3.get_object(Bucket=ref.bucket, Key=ref.key)
    except ClientError as err:
        named = s3_error(err, f"cannot read {ref.location}")
        if named:
            raise named from err
        raise
    version = response.get("VersionId")
    return BackupObject(
        body=response["Body"],
        size_bytes=response["ContentLength"],
        etag=response["ETag"].strip('"'),
        version_id=None if version in (None, "null") else version,
    )


def verify_json_object(s3: Any, bucket: str, key: str, table_name: str) -> dict[str, Any]:
    """Stream one original-format backup once and return what verification proved (XCom-sized)."""
    backup = open_backup(s3, BackupRef(bucket=bucket, key=key, timestamp=None))
    with backup.body:
        verified = verify_json_backup(backup.body, table_name)
    return {
        "backup_timestamp": verified.backup_timestamp,
        "item_count": verified.item_count,
        "checksum_verified": True,
        "size_bytes": backup.size_bytes,
        "etag": backup.etag,
        "version_id": backup.version_id,
    }
