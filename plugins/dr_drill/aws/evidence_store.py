"""Storing evidence records and their reports in S3: write-once where the bucket has Object Lock."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

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


def _put(
    s3: Any, bucket: str, key: str, body: bytes, content_type: str, lock: tuple[str, datetime] | None
) -> str | None:
    kwargs: dict[str, Any] = {
        "Bucket": bucket,
        "Key": key,
        "Body": body,
        "ContentType": content_type,
        # S3 refuses a retention without an integrity header; this one works with every SDK setting.
        "ContentMD5": base64.b64encode(hashlib.md5(body).digest()).decode(),
    }
    if lock:
        kwargs["ObjectLockMode"], kwargs["ObjectLockRetainUntilDate"] = lock
    return s3.put_object(**kwargs).get("VersionId")


def put_evidence(
    s3: Any, bucket: str, key: str, record: dict[str, Any], lock: tuple[str, datetime] | None = None
) -> str:
    """Write one evidence record, locked until the given date when ``lock`` is (mode, until); return its URI."""
    _put(s3, bucket, key, json.dumps(record, indent=2, sort_keys=True).encode(), "application/json", lock)
    return f"s3://{bucket}/{key}"


def put_report(s3: Any, bucket: str, key: str, html: str, lock: tuple[str, datetime] | None = None) -> str:
    """Write one HTML report beside its record, with the same retention; return its URI."""
    _put(s3, bucket, key, html.encode(), "text/html; charset=utf-8", lock)
    return f"s3://{bucket}/{key}"


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


def chain_entries(s3: Any, bucket: str, table_name: str, page_size: int | None = None) -> Iterator[ChainEntry]:
    """Yield every record of a table, in key order, for ``dr_drill.core.chain.verify_chain``."""
    for key in list_evidence_keys(s3, bucket, table_name, page_size):
        yield ChainEntry(key=key, record=read_evidence(s3, bucket, key))
