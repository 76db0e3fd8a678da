"""Finding and reading backup objects in S3. Read-only: a drill never changes a backup."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.core.errors import BackupNotFound
from dr_drill.core.selection import BackupRef, choose_latest_backup, explicit_backup, json_backup_prefix

_NOT_FOUND_CODES = {"NoSuchBucket", "NoSuchKey", "404", "NotFound", "AccessDenied", "403"}


def _not_found(err: ClientError, what: str) -> BackupNotFound:
    code = err.response.get("Error", {}).get("Code", "")
    return BackupNotFound(f"{what}: {code or 'error'} ({err.response.get('Error', {}).get('Message', '')})")


def list_keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    """Yield every key under ``prefix``, following pagination to the end."""
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for entry in page.get("Contents", ()):
                yield entry["Key"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in _NOT_FOUND_CODES:
            raise _not_found(err, f"cannot list s3://{bucket}/{prefix}") from err
        raise


def locate_json_backup(s3: Any, bucket: str, table_name: str, backup_file: str | None) -> tuple[BackupRef, int]:
    """Return the explicit backup, or the newest one by the timestamp in its name, and how many were seen."""
    if backup_file:
        return explicit_backup(bucket, backup_file, table_name), 1
    return choose_latest_backup(bucket, list_keys(s3, bucket, json_backup_prefix(table_name)), table_name)


@dataclass(frozen=True)
class BackupObject:
    """An open backup object: a stream plus what S3 says about it."""

    body: Any
    size_bytes: int
    etag: str


def open_backup(s3: Any, ref: BackupRef) -> BackupObject:
    """Open the backup for streaming; nothing is read into memory yet."""
    try:
        response = s3.get_object(Bucket=ref.bucket, Key=ref.key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in _NOT_FOUND_CODES:
            raise _not_found(err, f"cannot read {ref.location}") from err
        raise
    return BackupObject(body=response["Body"], size_bytes=response["ContentLength"], etag=response["ETag"].strip('"'))
