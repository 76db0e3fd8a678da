"""Reading S3 objects for the drill: listing every page, small objects, and streams. Read-only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.aws.client_errors import error_code, error_message
from dr_drill.errors import BackupNotFound

_NOT_FOUND_CODES = frozenset({"NoSuchBucket", "NoSuchKey", "404", "NotFound"})
_DENIED_CODES = frozenset({"AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId"})


def is_missing(err: ClientError) -> bool:
    """Whether S3 answered that the bucket or object does not exist."""
    return error_code(err) in _NOT_FOUND_CODES


def raise_named(err: ClientError, what: str) -> None:
    """Raise the named error for a missing or forbidden bucket or object; return for anything else."""
    named = s3_error(err, what)
    if named:
        raise named from err


def s3_error(err: ClientError, what: str) -> BackupNotFound | None:
    """Return the named error for a missing or forbidden bucket or object, None for anything else."""
    code = error_code(err)
    if code in _DENIED_CODES:
        return BackupNotFound(f"{what}: access denied ({code}); the drill's role needs s3:ListBucket and s3:GetObject")
    if code in _NOT_FOUND_CODES:
        return BackupNotFound(f"{what}: {code} ({error_message(err)})")
    return None


def list_keys(s3: Any, bucket: str, prefix: str, *, page_size: int | None = None) -> Iterator[str]:
    """Yield every key under ``prefix``, following pagination to the end.

    :param page_size: keys per ListObjectsV2 page (S3's default, 1,000, when None).
    """
    config = {"PageSize": page_size} if page_size else {}
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, PaginationConfig=config)
        for page in pages:
            for entry in page.get("Contents", ()):
                yield entry["Key"]
    except ClientError as err:
        raise_named(err, f"cannot list s3://{bucket}/{prefix}")
        raise


def read_object(s3: Any, bucket: str, key: str) -> bytes:
    """Return a small object's bytes (manifests, checksum files)."""
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        raise_named(err, f"cannot read s3://{bucket}/{key}")
        raise


@dataclass(frozen=True)
class OpenObject:
    """An object opened for streaming, and what S3 says about it."""

    body: Any
    size_bytes: int
    etag: str
    version_id: str | None = None


def open_object(s3: Any, bucket: str, key: str) -> OpenObject:
    """Open an object for streaming; nothing is read into memory yet."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as err:
        raise_named(err, f"cannot read s3://{bucket}/{key}")
        raise
    version = response.get("VersionId")
    return OpenObject(
        body=response["Body"],
        size_bytes=response["ContentLength"],
        etag=response["ETag"].strip('"'),
        version_id=None if version in (None, "null") else version,
    )
