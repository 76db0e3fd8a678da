"""Storing evidence records and their reports in S3: write-once where the bucket has Object Lock.

Every object is written only if absent (``If-None-Match: *``): a retried record task finds the
record its earlier try stored and reuses it, and can never add a second version of it. Beside
each record, small marker objects say which of its once-only outputs (metrics, notification)
were sent, so that a retry does not send them again.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from dr_drill.aws.client_errors import error_code
from dr_drill.core.evidence.chain import ChainEntry
from dr_drill.core.evidence.record import evidence_prefix
from dr_drill.errors import InvalidDrillRequest

RETENTION_MODES = ("COMPLIANCE", "GOVERNANCE")
DEFAULT_RETENTION_MODE = "COMPLIANCE"
DEFAULT_RETENTION_DAYS = 400  # a year of audit period plus slack
_NO_LOCK_CODES = {"ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound"}


@dataclass(frozen=True)
class Retention:
    """Object Lock retention given to every record: mode COMPLIANCE or GOVERNANCE, and days."""

    mode: str
    days: int

    def until(self, now: datetime) -> datetime:
        return (now + timedelta(days=self.days)).replace(microsecond=0)

    @classmethod
    def from_settings(cls, mode: str | None, days: str | None) -> Retention:
        """Read EVIDENCE_RETENTION_MODE and EVIDENCE_RETENTION_DAYS; unset means the defaults.

        :raises InvalidDrillRequest: naming the setting that is wrong.
        """
        mode = (mode or DEFAULT_RETENTION_MODE).upper()
        if mode not in RETENTION_MODES:
            raise InvalidDrillRequest(
                f"EVIDENCE_RETENTION_MODE is {mode!r}: expected one of {', '.join(RETENTION_MODES)}"
            )
        try:
            count = int(days) if days not in (None, "") else DEFAULT_RETENTION_DAYS
        except ValueError as err:
            raise InvalidDrillRequest(f"EVIDENCE_RETENTION_DAYS is {days!r}: expected a whole number of days") from err
        if not 1 <= count <= 36500:
            raise InvalidDrillRequest(f"EVIDENCE_RETENTION_DAYS is {count}: expected 1 to 36500 days")
        return cls(mode=mode, days=count)


def bucket_has_object_lock(s3: Any, bucket: str) -> bool:
    """Return True when the bucket has Object Lock enabled (objects there can be made write-once)."""
    try:
        configuration = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in _NO_LOCK_CODES:
            return False
        raise
    return configuration.get("ObjectLockEnabled") == "Enabled"


def content_md5(body: bytes) -> str:
    """The Content-MD5 header of ``body``: S3 refuses a retention without an integrity header, and this one
    works with every SDK setting."""
    return base64.b64encode(hashlib.md5(body).digest()).decode()


class AlreadyStored(Exception):
    """The object exists already: write-once objects are never written twice."""


_EXISTS_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})


def _put(
    s3: Any, bucket: str, key: str, body: bytes, content_type: str, lock: tuple[str, datetime] | None
) -> str | None:
    """Write ``key`` only if absent; raise ``AlreadyStored`` if it exists."""
    kwargs: dict[str, Any] = {
        "Bucket": bucket,
        "Key": key,
        "Body": body,
        "ContentType": content_type,
        "ContentMD5": content_md5(body),
        "IfNoneMatch": "*",
    }
    if lock:
        kwargs["ObjectLockMode"], kwargs["ObjectLockRetainUntilDate"] = lock
    try:
        return s3.put_object(**kwargs).get("VersionId")
    except ClientError as err:
        if error_code(err) in _EXISTS_CODES:
            raise AlreadyStored(f"s3://{bucket}/{key} exists already") from err
        raise


def put_evidence(
    s3: Any, bucket: str, key: str, record: dict[str, Any], lock: tuple[str, datetime] | None = None
) -> str:
    """Write one evidence record once, locked until the given date when ``lock`` is (mode, until); return its URI.

    :raises AlreadyStored: when a record is at ``key`` already (it is left as it is).
    """
    _put(s3, bucket, key, json.dumps(record, indent=2, sort_keys=True).encode(), "application/json", lock)
    return f"s3://{bucket}/{key}"


def put_report(s3: Any, bucket: str, key: str, html: str, lock: tuple[str, datetime] | None = None) -> str:
    """Write one HTML report beside its record, with the same retention, unless it is there already; return its URI."""
    with contextlib.suppress(AlreadyStored):  # an earlier try of the same record task wrote it, from the same record
        _put(s3, bucket, key, html.encode(), "text/html; charset=utf-8", lock)
    return f"s3://{bucket}/{key}"


def stored_record(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """Return the record stored at ``key``, or None when there is none (any other failure is raised)."""
    try:
        return read_evidence(s3, bucket, key) or {}
    except ClientError as err:
        if error_code(err) in ("NoSuchKey", "404", "NotFound"):
            return None
        raise


def output_marker_key(record_key: str, output: str) -> str:
    """Where the marker saying that ``output`` (metrics, notification) of a record was sent lives."""
    return f"{record_key}.{output}-sent"


def output_was_sent(s3: Any, bucket: str, record_key: str, output: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=output_marker_key(record_key, output))
    except ClientError as err:
        if error_code(err) in ("NoSuchKey", "404", "NotFound"):
            return False
        raise
    return True


def mark_output_sent(s3: Any, bucket: str, record_key: str, output: str, facts: dict[str, Any]) -> None:
    """Leave the marker of a sent output (what was sent, when, its id); a marker already there is kept."""
    body = json.dumps(facts, sort_keys=True, default=str).encode()
    with contextlib.suppress(AlreadyStored):
        _put(s3, bucket, output_marker_key(record_key, output), body, "application/json", None)


def list_evidence_keys(s3: Any, bucket: str, table_name: str, page_size: int | None = None) -> Iterator[str]:
    """Yield the keys of a table's evidence records in key order (which is time order), every page."""
    paginator = s3.get_paginator("list_objects_v2")
    config = {"PageSize": page_size} if page_size else {}
    for page in paginator.paginate(Bucket=bucket, Prefix=evidence_prefix(table_name), PaginationConfig=config):
        for entry in page.get("Contents", ()):
            if entry["Key"].endswith(".json"):
                yield entry["Key"]


def read_evidence(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """Return a stored record, or None when its bytes are not a JSON object."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        record = json.loads(body)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def latest_evidence(s3: Any, bucket: str, table_name: str, *, exclude_key: str) -> dict[str, Any] | None:
    """Return the table's newest record other than ``exclude_key`` (a retried record task's own)."""
    keys = [key for key in list_evidence_keys(s3, bucket, table_name) if key != exclude_key]
    if not keys:
        return None
    record = read_evidence(s3, bucket, keys[-1])
    if record is None:
        raise ValueError(f"s3://{bucket}/{keys[-1]} is not a JSON evidence record: the chain cannot link to it")
    return record


def record_versions(s3: Any, bucket: str, table_name: str, page_size: int | None = None) -> dict[str, list[str]]:
    """Return every version id (delete markers included) of each of a table's record keys, oldest first.

    A bucket without versioning keeps one version (id ``null``) whatever was written over it:
    only a versioned bucket (as Object Lock requires) can show an overwrite.
    """
    versions: dict[str, list[tuple[str, str]]] = {}
    paginator = s3.get_paginator("list_object_versions")
    config = {"PageSize": page_size} if page_size else {}
    for page in paginator.paginate(Bucket=bucket, Prefix=evidence_prefix(table_name), PaginationConfig=config):
        for entry in [*page.get("Versions", ()), *page.get("DeleteMarkers", ())]:
            if entry["Key"].endswith(".json"):
                versions.setdefault(entry["Key"], []).append((entry["LastModified"].isoformat(), entry["VersionId"]))
    return {key: [version for _, version in sorted(found)] for key, found in versions.items()}


def chain_entries(s3: Any, bucket: str, table_name: str, page_size: int | None = None) -> Iterator[ChainEntry]:
    """Yield every record of a table, in key order, each with all its stored versions, for ``verify_chain``."""
    versions = record_versions(s3, bucket, table_name, page_size)
    for key in list_evidence_keys(s3, bucket, table_name, page_size):
        found = versions.get(key, [])
        extra = (
            tuple(read_version(s3, bucket, key, version) for version in found if version != "null")
            if len(found) > 1
            else ()
        )
        yield ChainEntry(
            key=key, record=read_evidence(s3, bucket, key), versions=max(len(found), 1), other_versions=extra
        )


def read_version(s3: Any, bucket: str, key: str, version_id: str) -> dict[str, Any] | None:
    """Return one stored version of a record (None for a delete marker or bytes that are not a JSON object)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"].read()
    except ClientError as err:
        if error_code(err) in ("MethodNotAllowed", "405", "NoSuchVersion", "NoSuchKey"):
            return None  # a delete marker
        raise
    try:
        record = json.loads(body)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None
