"""Reading S3 objects for the drill: listing every page, small objects, and streams. Read-only.

A stream that breaks off mid-body (a reset connection, a read timeout, a body cut short) is
resumed where it stopped, with a ranged GET of the same object version (or ETag), so a
transient fault costs a request, not the whole step.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from dr_drill.aws.client_errors import error_code, error_message
from dr_drill.aws.retries import UnprocessedBackoff
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
    with open_object(s3, bucket, key).body as body:
        return body.read()


_STREAM_FAULTS = (ResponseStreamingError, ReadTimeoutError, ConnectionClosedError, IncompleteReadError)
RESUME_BACKOFF = UnprocessedBackoff(base_seconds=0.2, cap_seconds=5.0)


class TransferInterrupted(Exception):
    """An object's body kept breaking off, however often the read was resumed."""


class ResumingBody:
    """A read-only file object over an object's body that resumes, by ranged GET, where a fault cut it."""

    def __init__(self, s3: Any, bucket: str, key: str, response: dict[str, Any], backoff: UnprocessedBackoff) -> None:
        self._s3, self._bucket, self._key = s3, bucket, key
        self._body = response["Body"]
        self._size = response.get("ContentLength")
        version = response.get("VersionId")
        # The same bytes or none: the exact version where the bucket keeps versions, else the same ETag.
        self._same_object = {"VersionId": version} if version not in (None, "null") else {"IfMatch": response["ETag"]}
        self._backoff = backoff
        self.position = 0
        self.resumes = 0

    def read(self, size: int = -1) -> bytes:
        while True:
            try:
                chunk = self._body.read(size) if size is not None and size >= 0 else self._body.read()
            except _STREAM_FAULTS as err:
                self._resume(err)
                continue
            self.position += len(chunk)
            return chunk

    def _resume(self, err: Exception) -> None:
        where = f"s3://{self._bucket}/{self._key}"
        if self.resumes + 1 >= self._backoff.max_attempts:
            raise TransferInterrupted(
                f"{where}: the transfer broke off {self.resumes + 1} times (last at byte {self.position}"
                f" of {self._size}: {type(err).__name__}); the object could not be read"
            ) from None
        self._backoff.wait(self.resumes)
        self.resumes += 1
        self._body.close()
        ranged = {"Range": f"bytes={self.position}-"} if self.position else {}
        response = self._s3.get_object(Bucket=self._bucket, Key=self._key, **ranged, **self._same_object)
        self._body = response["Body"]

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> ResumingBody:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass(frozen=True)
class OpenObject:
    """An object opened for streaming, and what S3 says about it."""

    body: Any
    size_bytes: int
    etag: str
    version_id: str | None = None


def open_object(s3: Any, bucket: str, key: str, *, backoff: UnprocessedBackoff = RESUME_BACKOFF) -> OpenObject:
    """Open an object for streaming (resumed where a fault cuts it); nothing is read into memory yet."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as err:
        raise_named(err, f"cannot read s3://{bucket}/{key}")
        raise
    version = response.get("VersionId")
    return OpenObject(
        body=ResumingBody(s3, bucket, key, response, backoff),
        size_bytes=response["ContentLength"],
        etag=response["ETag"].strip('"'),
        version_id=None if version in (None, "null") else version,
    )
